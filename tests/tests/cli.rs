//! The real `crmctl` binary against a real server, on SQLite and PostgreSQL: every `customers`
//! subcommand and `whoami` (JSON output parsed back, NDJSON and CSV lists while paging), the
//! documented exit codes with the gRPC code, reason and field violations on stderr, a key that
//! never appears in any output, an import with bad rows (the rejects file read back) and a
//! re-run that creates nothing new, the sample CSV of the README, export round trips, and shell
//! completions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crm_tests::{
    Backend, TestApp, TestDatabase,
    cli::{Invocation, Run, crmctl, crmctl_offline, crmctl_with},
    e2e, organization, pb, principal_with_key,
};
use serde_json::Value;

e2e!(
    customers_are_created_read_updated_deleted_and_restored,
    lists_page_through_every_customer_as_ndjson_csv_json_and_a_table,
    errors_exit_with_the_documented_codes_and_say_why_on_stderr,
    the_key_never_appears_in_any_output,
    whoami_names_the_caller_and_its_key,
    an_import_rejects_bad_rows_with_reasons_and_a_rerun_creates_nothing_new,
    an_interrupted_import_resumes_without_creating_duplicates,
    the_sample_csv_imports_cleanly,
    an_export_imports_into_an_empty_server_as_the_same_customers,
);

/// `crmctl` as the bootstrap admin.
async fn admin(app: &TestApp, args: &[&str]) -> Run {
    crmctl(app, Some(&app.admin_key), args).await
}

/// `crmctl ARGS -o json` as the admin, expected to succeed; stdout parsed.
async fn admin_json(app: &TestApp, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    admin(app, &all).await.success().json()
}

/// How many customers the server lists (as the admin, deleted ones excluded).
async fn count(app: &TestApp) -> usize {
    let mut client = app.customers.clone();
    let mut request = pb::ListCustomersRequest {
        page_size: 1000,
        ..Default::default()
    };
    let mut total = 0;
    loop {
        let page = client.list_customers(request.clone()).await.unwrap().into_inner();
        total += page.customers.len();
        if page.next_page_token.is_empty() {
            return total;
        }
        request.page_token = page.next_page_token;
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

async fn customers_are_created_read_updated_deleted_and_restored(app: TestApp) {
    let created = admin_json(
        &app,
        &[
            "customers",
            "create",
            "--id",
            "acme",
            "--display-name",
            "Acme Ltd",
            "--kind",
            "organization",
            "--email",
            "jane@acme.example",
            "--contact-name",
            "Jane Doe",
            "--job-rank",
            "executive",
            "--decision-role",
            "decision-maker",
            "--employee-count",
            "250",
            "--country",
            "DE",
            "--city",
            "Berlin",
            "--tag",
            "vip",
            "--tag",
            "eu",
            "--need",
            "price-sensitive,quality-focused",
            "--key-account",
            "--department",
            "sales",
            "--request-id",
            "7d1e3f7a-1111-4c3b-9a55-2f4b7e0c9d10",
        ],
    )
    .await;
    assert_eq!(created["name"], "customers/acme");
    assert_eq!(created["displayName"], "Acme Ltd");
    assert_eq!(created["kind"], "CUSTOMER_KIND_ORGANIZATION");
    assert_eq!(created["contact"]["email"], "jane@acme.example");
    assert_eq!(created["contact"]["jobRank"], "JOB_RANK_EXECUTIVE");
    assert_eq!(created["employeeCount"], 250);
    assert_eq!(created["region"]["countryCode"], "DE");
    assert_eq!(created["tags"], serde_json::json!(["eu", "vip"]));
    assert_eq!(
        created["needs"],
        serde_json::json!(["CUSTOMER_NEED_PRICE_SENSITIVE", "CUSTOMER_NEED_QUALITY_FOCUSED"])
    );
    assert_eq!(created["keyAccount"], true);

    // The same request id again returns the first customer instead of failing on the id.
    let again = admin_json(
        &app,
        &[
            "customers",
            "create",
            "--id",
            "acme",
            "--display-name",
            "Acme Ltd",
            "--kind",
            "organization",
            "--request-id",
            "7d1e3f7a-1111-4c3b-9a55-2f4b7e0c9d10",
        ],
    )
    .await;
    assert_eq!(again["etag"], created["etag"]);

    let table = admin(&app, &["customers", "get", "acme"]).await.success();
    assert!(
        table.stdout.contains("display_name") && table.stdout.contains("Acme Ltd"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("contact.email"),
        "nested fields are flattened: {}",
        table.stdout
    );
    let by_name = admin_json(&app, &["customers", "get", "customers/acme"]).await;
    assert_eq!(by_name["etag"], created["etag"]);

    let etag = created["etag"].as_str().unwrap().to_owned();
    let updated = admin_json(
        &app,
        &[
            "customers",
            "update",
            "acme",
            "--display-name",
            "Acme GmbH",
            "--clear",
            "contact.email",
            "--etag",
            &etag,
        ],
    )
    .await;
    assert_eq!(updated["displayName"], "Acme GmbH");
    assert!(updated["contact"].get("email").is_none(), "cleared: {updated}");
    assert_eq!(updated["contact"]["fullName"], "Jane Doe", "fields not given stay");
    assert_eq!(updated["tags"], serde_json::json!(["eu", "vip"]));

    admin(
        &app,
        &["customers", "update", "acme", "--city", "Munich", "--etag", &etag],
    )
    .await
    .fails_with(5)
    .stderr_has("error: ABORTED")
    .stderr_has("reason: ETAG_MISMATCH");

    let deleted = admin_json(&app, &["customers", "delete", "acme"]).await;
    assert!(deleted["deleteTime"].is_string(), "{deleted}");
    admin(&app, &["customers", "get", "acme"])
        .await
        .fails_with(3)
        .stderr_has("reason: CUSTOMER_DELETED");
    let restored = admin_json(&app, &["customers", "undelete", "acme"]).await;
    assert!(restored.get("deleteTime").is_none(), "{restored}");
    admin(&app, &["customers", "undelete", "acme"])
        .await
        .fails_with(5)
        .stderr_has("reason: CUSTOMER_NOT_DELETED");
    let fresh = admin_json(&app, &["customers", "get", "acme"]).await;
    let stale = updated["etag"].as_str().unwrap();
    admin(&app, &["customers", "delete", "acme", "--etag", stale])
        .await
        .fails_with(5)
        .stderr_has("reason: ETAG_MISMATCH");
    admin(
        &app,
        &["customers", "delete", "acme", "--etag", fresh["etag"].as_str().unwrap()],
    )
    .await
    .success();
}

async fn lists_page_through_every_customer_as_ndjson_csv_json_and_a_table(app: TestApp) {
    for i in 0..7 {
        let mut customer = organization(&format!("Company {i}"));
        if i % 2 == 0 {
            customer.tags = vec!["vip".into()];
        }
        crm_tests::create(&app, customer).await;
    }
    let ndjson = admin(&app, &["customers", "list", "--page-size", "2", "-o", "ndjson"])
        .await
        .success()
        .ndjson();
    let names: Vec<&str> = ndjson.iter().map(|c| c["displayName"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        (0..7).map(|i| format!("Company {i}")).collect::<Vec<_>>(),
        "in create order, all pages"
    );

    let limited = admin(
        &app,
        &["customers", "list", "--page-size", "2", "--limit", "3", "-o", "ndjson"],
    )
    .await
    .success()
    .ndjson();
    assert_eq!(limited.len(), 3);

    let vip = admin(&app, &["customers", "list", "--filter", "tags: \"vip\"", "-o", "json"])
        .await
        .success()
        .json();
    assert_eq!(vip.as_array().unwrap().len(), 4, "{vip}");

    let csv = admin(
        &app,
        &["customers", "list", "--order-by", "display_name desc", "-o", "csv"],
    )
    .await
    .success();
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "name,display_name,kind,owner,department,region.country_code,employee_count,tags,classification.grade.value.grade"
    );
    assert_eq!(lines.len(), 8, "{}", csv.stdout);
    assert!(lines[1].contains("Company 6,ORGANIZATION"), "{}", lines[1]);

    let none = admin(
        &app,
        &[
            "customers",
            "list",
            "--filter",
            "display_name = \"Nobody\"",
            "-o",
            "json",
        ],
    )
    .await
    .success()
    .json();
    assert_eq!(none, serde_json::json!([]));

    let table = admin(&app, &["customers", "list"]).await.success();
    assert!(
        table.stdout.contains("Company 3") && table.stdout.contains("display_name"),
        "{}",
        table.stdout
    );

    let deleted = admin_json(&app, &["customers", "delete", ndjson[0]["name"].as_str().unwrap()]).await;
    let with_deleted = admin(&app, &["customers", "list", "--show-deleted", "-o", "ndjson"])
        .await
        .success()
        .ndjson();
    assert_eq!(with_deleted.len(), 7);
    assert!(with_deleted.iter().any(|c| c["name"] == deleted["name"]));
    assert_eq!(
        admin(&app, &["customers", "list", "-o", "ndjson"])
            .await
            .success()
            .ndjson()
            .len(),
        6
    );
}

async fn errors_exit_with_the_documented_codes_and_say_why_on_stderr(app: TestApp) {
    admin(&app, &["customers", "get", "nobody"])
        .await
        .fails_with(3)
        .stderr_has("error: NOT_FOUND")
        .stderr_has("reason: CUSTOMER_NOT_FOUND (customer=customers/nobody)");

    let invalid = admin(
        &app,
        &[
            "customers",
            "create",
            "--display-name",
            " ",
            "--kind",
            "organization",
            "--email",
            "not-an-email",
            "--country",
            "XX",
        ],
    )
    .await
    .fails_with(1)
    .stderr_has("error: INVALID_ARGUMENT")
    .stderr_has("\n  customer.display_name: ")
    .stderr_has("\n  customer.contact.email: ")
    .stderr_has("\n  customer.region.country_code: ");
    assert!(invalid.stdout.is_empty(), "nothing on stdout: {}", invalid.stdout);

    admin(
        &app,
        &[
            "customers",
            "create",
            "--id",
            "taken",
            "--display-name",
            "A",
            "--kind",
            "individual",
        ],
    )
    .await
    .success();
    admin(
        &app,
        &[
            "customers",
            "create",
            "--id",
            "taken",
            "--display-name",
            "B",
            "--kind",
            "individual",
        ],
    )
    .await
    .fails_with(5)
    .stderr_has("reason: CUSTOMER_ALREADY_EXISTS");

    // Usage errors are clap's: exit 2, before anything is sent.
    admin(&app, &["customers", "create", "--display-name", "A"])
        .await
        .fails_with(2)
        .stderr_has("--kind");
    admin(&app, &["customers", "list", "--colour", "red"])
        .await
        .fails_with(2);
    admin(&app, &["customers", "update", "taken"])
        .await
        .fails_with(2)
        .stderr_has("nothing to update");
    admin(
        &app,
        &["customers", "create", "--display-name", "A", "--kind", "company"],
    )
    .await
    .fails_with(2);

    // A sales rep may only read its own customers.
    let rep = principal_with_key(&app, "li-na", "sales", "sales_rep", pb::Scope::Own).await;
    crmctl(&app, Some(&rep), &["customers", "get", "taken"])
        .await
        .fails_with(4)
        .stderr_has("error: PERMISSION_DENIED")
        .stderr_has("reason: PERMISSION_DENIED (")
        .stderr_has("permission=customers.get");
    crmctl(&app, None, &["customers", "list"])
        .await
        .fails_with(4)
        .stderr_has("error: UNAUTHENTICATED");

    // Nothing listens on the port of a stopped server.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = format!("http://127.0.0.1:{port}");
    crmctl(
        &app,
        Some(&app.admin_key),
        &["--server", &unreachable, "--timeout", "5", "whoami"],
    )
    .await
    .fails_with(2)
    .stderr_has("cannot be used multiple times");
    crmctl_offline(&[
        "--server",
        &unreachable,
        "--timeout",
        "5",
        "--token",
        "crm_x_y",
        "whoami",
    ])
    .await
    .fails_with(6)
    .stderr_has("error: UNAVAILABLE")
    .stderr_has(&format!("could not reach crmd at {unreachable}"));
}

async fn the_key_never_appears_in_any_output(app: TestApp) {
    let key = app.admin_key.clone();
    let runs = [
        admin(&app, &["--help"]).await.success(),
        admin(&app, &["customers", "list", "--help"]).await.success(),
        admin(&app, &["whoami"]).await.success(),
        admin(&app, &["whoami", "-o", "json"]).await.success(),
        admin(&app, &["customers", "get", "nobody"]).await.fails_with(3),
        admin(&app, &["customers", "list", "--colour"]).await.fails_with(2),
        crmctl(&app, None, &["--token", &key, "--help"]).await.success(),
        crmctl(&app, None, &["--token", &format!("{key}x"), "whoami"])
            .await
            .fails_with(4),
    ];
    for run in &runs {
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(&key), "the key leaked:\n{text}");
            let secret = key.splitn(3, '_').nth(2).unwrap(); // crm_<prefix>_<secret>; the secret may hold '_'
            assert!(!text.contains(secret), "the key's secret leaked:\n{text}");
        }
    }
    assert!(
        runs[0].stdout.contains("[env: CRM_TOKEN]"),
        "the variable is named, not its value: {}",
        runs[0].stdout
    );
    assert!(
        runs[0].stdout.contains("Exit codes:"),
        "--help documents the exit codes"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{key}\n")).unwrap();
    crmctl(&app, None, &["--token-file", path_str(file.path()), "whoami"])
        .await
        .success();
    crmctl(
        &app,
        None,
        &["--token-file", path_str(file.path()), "--token", &key, "whoami"],
    )
    .await
    .fails_with(2);
}

async fn whoami_names_the_caller_and_its_key(app: TestApp) {
    let me = admin_json(&app, &["whoami"]).await;
    assert_eq!(me["principal"]["name"], "principals/admin");
    assert!(
        me["apiKey"].as_str().unwrap().starts_with("principals/admin/apiKeys/"),
        "{me}"
    );
    let rep = principal_with_key(&app, "li-na", "sales", "sales_rep", pb::Scope::Own).await;
    let them = crmctl(&app, Some(&rep), &["whoami", "-o", "ndjson"])
        .await
        .success()
        .ndjson();
    assert_eq!(them.len(), 1);
    assert_eq!(them[0]["principal"]["name"], "principals/li-na");
}

const BAD_IMPORT: &str = "\
id,display_name,kind,email,country,employee_count,tags
good-one,Good One,organization,buyer@good.example,DE,10,vip;eu
,Unnamed Good,individual,,,,
bad-mail,Bad Mail,organization,not-an-email,DE,1,
,,organization,,XX,-5,
bad-kind,Bad Kind,company,,,,
good-two,\"Good, Two\",organization,,CN,2000,asia
,杭州龙井茶业有限公司,organization,wang@longjing.example,CN,120,tea
too,few,fields
";

async fn an_import_rejects_bad_rows_with_reasons_and_a_rerun_creates_nothing_new(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("customers.csv");
    std::fs::write(&file, BAD_IMPORT).unwrap();
    let rejects = dir.path().join("customers.csv.rejects.csv");

    let first = admin(&app, &["customers", "import", path_str(&file), "--concurrency", "3"])
        .await
        .fails_with(1)
        .stderr_has("4 created, 0 already existed, 4 rejected")
        .stderr_has("4 row(s) rejected");
    assert!(first.stdout.is_empty(), "the summary is diagnostics: {}", first.stdout);
    assert_eq!(count(&app).await, 4);
    let text = std::fs::read_to_string(&rejects).unwrap();
    let mut reader = csv_rows(&text);
    let header = reader.remove(0);
    assert_eq!(
        header,
        [
            "line",
            "reason",
            "id",
            "display_name",
            "kind",
            "email",
            "country",
            "employee_count",
            "tags"
        ]
    );
    reader.sort_by_key(|r| r[0].parse::<u32>().unwrap());
    let lines: Vec<&str> = reader.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(lines, ["4", "5", "6", "9"], "{text}");
    assert!(reader[0][1].starts_with("contact.email: "), "{text}");
    assert_eq!(reader[0][2], "bad-mail", "the row follows its reason");
    for field in ["display_name: ", "employee_count: ", "region.country_code: "] {
        assert!(
            reader[1][1].contains(field),
            "every problem of the row is named: {text}"
        );
    }
    assert!(
        reader[2][1].starts_with("kind: \"company\" is not one of organization, individual"),
        "{text}"
    );
    assert!(reader[3][1].contains("has 3 fields, the header has 7"), "{text}");

    // A re-run (say after an interruption) creates nothing new, rows without an id included.
    let second = admin(&app, &["customers", "import", path_str(&file), "-o", "json"])
        .await
        .fails_with(1);
    let summary = second.json();
    assert_eq!(summary["created"], 0, "{summary}");
    assert_eq!(summary["alreadyExisted"], 4, "{summary}");
    assert_eq!(summary["rejected"], 4, "{summary}");
    assert_eq!(count(&app).await, 4);

    // The rejects file, corrected, imports as it is (line and reason are ignored).
    let fixed = text
        .replace("not-an-email", "fixed@bad.example")
        .replace(",,,organization,,XX,-5,", ",,Fixed Name,organization,,FR,5,")
        .replace("company", "organization")
        .replace("too,few,fields", "too-few,Too Few,individual,,,,");
    let fixed_file = dir.path().join("fixed.csv");
    std::fs::write(&fixed_file, fixed).unwrap();
    admin(&app, &["customers", "import", path_str(&fixed_file)])
        .await
        .success()
        .stderr_has("4 created, 0 already existed, 0 rejected");
    assert!(
        !dir.path().join("fixed.csv.rejects.csv").exists(),
        "no rejects, no file"
    );
    assert_eq!(count(&app).await, 8);

    // NDJSON: one proto3 JSON customer per line, with its line number when rejected.
    let ndjson = dir.path().join("more.ndjson");
    std::fs::write(
        &ndjson,
        "{\"name\":\"customers/nd-one\",\"displayName\":\"ND One\",\"kind\":\"CUSTOMER_KIND_ORGANIZATION\"}\n\n{\"displayName\":\"\"}\n{oops\n",
    )
    .unwrap();
    admin(&app, &["customers", "import", path_str(&ndjson)])
        .await
        .fails_with(1)
        .stderr_has("1 created, 0 already existed, 2 rejected");
    let nd_rejects = csv_rows(&std::fs::read_to_string(dir.path().join("more.ndjson.rejects.csv")).unwrap());
    let mut lines: Vec<&str> = nd_rejects[1..].iter().map(|r| r[0].as_str()).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["3", "4"]);
    admin_json(&app, &["customers", "get", "nd-one"]).await;

    // A header naming no known column stops before anything is sent.
    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, "display_name,colour\nA,red\n").unwrap();
    admin(&app, &["customers", "import", path_str(&unknown)])
        .await
        .fails_with(1)
        .stderr_has("unknown column(s) colour");
    admin(
        &app,
        &["customers", "import", path_str(&dir.path().join("customers.txt"))],
    )
    .await
    .fails_with(2)
    .stderr_has("--format");
}

async fn an_interrupted_import_resumes_without_creating_duplicates(app: TestApp) {
    // Rows without an id get server-assigned UUIDs: only the request id can tell a row that was
    // created already from a new one.
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = (0..50)
        .map(|i| format!("Resumed Company {i},organization,DE,{i}"))
        .collect();
    let header = "display_name,kind,country,employee_count";
    let partial = dir.path().join("partial.csv");
    std::fs::write(&partial, format!("{header}\n{}\n", rows[..20].join("\n"))).unwrap();
    admin(&app, &["customers", "import", path_str(&partial), "--concurrency", "8"])
        .await
        .success()
        .stderr_has("20 created, 0 already existed, 0 rejected");
    let full = dir.path().join("full.csv");
    std::fs::write(&full, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    let summary = admin(
        &app,
        &[
            "customers",
            "import",
            path_str(&full),
            "--concurrency",
            "8",
            "-o",
            "json",
        ],
    )
    .await
    .success()
    .json();
    assert_eq!(summary["created"], 30, "{summary}");
    assert_eq!(summary["alreadyExisted"], 20, "{summary}");
    assert_eq!(count(&app).await, 50);
    let listed = admin(&app, &["customers", "list", "-o", "ndjson"])
        .await
        .success()
        .ndjson();
    let mut names: Vec<&str> = listed.iter().map(|c| c["displayName"].as_str().unwrap()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 50, "each row once");
}

/// The records of a CSV text (header included).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv_lines(text)
}

/// A minimal RFC 4180 reader for the tests (quoted fields with `""`, commas and new lines).
fn csv_lines(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

async fn the_sample_csv_imports_cleanly(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("customers.csv");
    std::fs::copy(repo_root().join("examples/customers.csv"), &sample).unwrap();
    admin(&app, &["customers", "import", path_str(&sample)])
        .await
        .success()
        .stderr_has("20 created, 0 already existed, 0 rejected");
    let tea = admin_json(&app, &["customers", "get", "hangzhou-tea"]).await;
    assert_eq!(tea["displayName"], "杭州龙井茶业有限公司");
    assert_eq!(tea["contact"]["jobTitle"], "采购经理");
    let vip = admin(
        &app,
        &["customers", "list", "--filter", "tags: \"vip\"", "-o", "ndjson"],
    )
    .await
    .success()
    .ndjson();
    assert_eq!(vip.len(), 3);
}

/// The backend `app` stores in.
fn backend_of(app: &TestApp) -> Backend {
    match app.database {
        TestDatabase::Postgres { .. } => Backend::Postgres,
        TestDatabase::Sqlite { .. } | TestDatabase::Shared { .. } => Backend::Sqlite,
    }
}

/// The export's rows with the columns that differ between servers (times, etag) removed.
fn comparable(csv_text: &str) -> Vec<Vec<String>> {
    let rows = csv_lines(csv_text);
    let header = &rows[0];
    let keep: Vec<usize> = (0..header.len())
        .filter(|i| !["create_time", "update_time", "etag"].contains(&header[*i].as_str()))
        .collect();
    let mut out: Vec<Vec<String>> = rows
        .iter()
        .map(|r| keep.iter().map(|i| r[*i].clone()).collect())
        .collect();
    out[1..].sort();
    out
}

async fn an_export_imports_into_an_empty_server_as_the_same_customers(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.csv");
    std::fs::copy(repo_root().join("examples/customers.csv"), &sample).unwrap();
    admin(&app, &["customers", "import", path_str(&sample)]).await.success();
    admin(
        &app,
        &[
            "customers",
            "create",
            "--display-name",
            "No Id Yet",
            "--kind",
            "individual",
        ],
    )
    .await
    .success();

    let exported = dir.path().join("export.csv");
    admin(&app, &["customers", "export", "--out", path_str(&exported)])
        .await
        .success()
        .stderr_has("exported 21 customers");
    let to_stdout = admin(&app, &["customers", "export"]).await.success();
    assert_eq!(
        comparable(&to_stdout.stdout),
        comparable(&std::fs::read_to_string(&exported).unwrap())
    );
    let ndjson = dir.path().join("export.ndjson");
    admin(
        &app,
        &["customers", "export", "--format", "ndjson", "--out", path_str(&ndjson)],
    )
    .await
    .success();
    let filtered = admin(
        &app,
        &[
            "customers",
            "export",
            "--filter",
            "region.country_code = \"CN\"",
            "--format",
            "ndjson",
        ],
    )
    .await
    .success()
    .ndjson();
    assert_eq!(filtered.len(), 3);

    for file in [&exported, &ndjson] {
        let Some(other) = TestApp::spawn(backend_of(&app)).await else {
            return;
        };
        crmctl_with(
            &other,
            Invocation {
                key: Some(&other.admin_key),
                dir: Some(dir.path()),
            },
            &["customers", "import", path_str(file)],
        )
        .await
        .success()
        .stderr_has("21 created, 0 already existed, 0 rejected");
        let again = crmctl(&other, Some(&other.admin_key), &["customers", "export"])
            .await
            .success();
        assert_eq!(
            comparable(&again.stdout),
            comparable(&to_stdout.stdout),
            "{} round-trips",
            file.display()
        );
    }
}

#[tokio::test]
async fn completions_are_printed_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let run = crmctl_offline(&["completions", shell]).await.success();
        assert!(run.stdout.contains("crmctl"), "{shell}: {}", run.stdout);
        assert!(
            run.stdout.contains("customers") && run.stdout.contains("import"),
            "{shell}"
        );
    }
    crmctl_offline(&["completions", "tcsh"]).await.fails_with(2);
}
