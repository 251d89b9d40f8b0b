//! The real `crmctl` binary against a real server, on SQLite and PostgreSQL: the `access`
//! commands (principals, roles, bindings, keys, check, audit), a key created by the CLI then used
//! by the CLI, the `classify` commands, a policy round trip through a JSON file (get, edit,
//! create, preview, activate), an invalid policy file's field violations, `history` and `stats`.
//! JSON output is parsed back; exit codes are those `crmctl --help` documents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_tests::{
    TestApp,
    cli::{Run, crmctl},
    create, e2e, organization, pb,
};
use serde_json::Value;

/// `crmctl` as the bootstrap admin, with `args`.
async fn admin(app: &TestApp, args: &[&str]) -> Run {
    crmctl(app, Some(&app.admin_key), args).await
}

/// `crmctl` as the admin, expected to succeed; its stdout as JSON.
async fn admin_json(app: &TestApp, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    admin(app, &all).await.success().json()
}

async fn access_commands_manage_principals_roles_bindings_and_keys(app: TestApp) {
    let created = admin_json(
        &app,
        &[
            "access",
            "principals",
            "create",
            "li-na",
            "--display-name",
            "Li Na",
            "--department",
            "sales",
            "--staff-level",
            "frontline",
        ],
    )
    .await;
    assert_eq!(created["name"], "principals/li-na");
    assert_eq!(created["staffLevel"], "STAFF_LEVEL_FRONTLINE");

    let fetched = admin_json(&app, &["access", "principals", "get", "principals/li-na"]).await;
    assert_eq!(fetched, created);
    let updated = admin_json(
        &app,
        &["access", "principals", "update", "li-na", "--department", "support"],
    )
    .await;
    assert_eq!(updated["department"], "support");
    assert_eq!(updated["displayName"], "Li Na", "only the given field changes");
    let disabled = admin_json(&app, &["access", "principals", "disable", "li-na"]).await;
    assert_eq!(disabled["disabled"], true);
    let enabled = admin_json(&app, &["access", "principals", "enable", "li-na"]).await;
    assert_eq!(enabled.get("disabled"), None, "false is the proto3 default, left out");
    let listed = admin(&app, &["access", "principals", "list", "-o", "ndjson"])
        .await
        .success();
    let names: Vec<String> = listed
        .ndjson()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["principals/admin", "principals/li-na"]);
    let one = admin(&app, &["access", "principals", "list", "--limit", "1", "-o", "ndjson"])
        .await
        .success();
    assert_eq!(one.ndjson().len(), 1, "--limit stops the list");

    // Roles: a custom one is created, read, changed, listed and deleted.
    let role = admin_json(
        &app,
        &[
            "access",
            "roles",
            "create",
            "reader",
            "--title",
            "Reader",
            "--permission",
            "customers.get,customers.list",
        ],
    )
    .await;
    assert_eq!(role["name"], "roles/reader");
    assert_eq!(
        role["permissions"],
        serde_json::json!(["customers.get", "customers.list"])
    );
    let role = admin_json(
        &app,
        &["access", "roles", "update", "reader", "--permission", "customers.get"],
    )
    .await;
    assert_eq!(role["permissions"], serde_json::json!(["customers.get"]));
    assert_eq!(role["title"], "Reader");
    let roles = admin_json(&app, &["access", "roles", "list"]).await;
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"roles/sales_rep") && names.contains(&"roles/reader"),
        "{names:?}"
    );
    let csv = admin(&app, &["access", "roles", "get", "sales_rep", "-o", "csv"])
        .await
        .success();
    assert!(csv.stdout.starts_with("name,title,permissions"), "{}", csv.stdout);
    admin(&app, &["access", "roles", "delete", "reader"]).await.success();
    admin(&app, &["access", "roles", "get", "reader"]).await.fails_with(3);

    // Bindings, with grades and an expiry.
    let binding = admin_json(
        &app,
        &[
            "access",
            "bindings",
            "create",
            "li-na",
            "roles/sales_rep",
            "--scope",
            "own",
            "--grade",
            "standard",
            "--grade",
            "potential",
            "--expire-time",
            "+30d",
        ],
    )
    .await;
    let binding_name = binding["name"].as_str().unwrap().to_owned();
    assert!(binding_name.starts_with("roleBindings/"), "{binding_name}");
    assert_eq!(binding["scope"], "SCOPE_OWN");
    assert_eq!(
        binding["grades"],
        serde_json::json!(["GRADE_STANDARD", "GRADE_POTENTIAL"])
    );
    assert!(binding["expireTime"].is_string());
    let bindings = admin_json(&app, &["access", "bindings", "list", "--principal", "li-na"]).await;
    assert_eq!(bindings.as_array().unwrap().len(), 1);
    assert_eq!(bindings[0]["name"], binding_name.as_str());
    let uuid = binding_name.trim_start_matches("roleBindings/");
    assert_eq!(admin_json(&app, &["access", "bindings", "get", uuid]).await, binding);
    admin(
        &app,
        &[
            "access",
            "bindings",
            "create",
            "li-na",
            "sales_rep",
            "--scope",
            "galaxy",
        ],
    )
    .await
    .fails_with(1)
    .stderr_has("--scope \"galaxy\" is not one of: all, department, own");

    // A key created by the CLI, captured from stdout, then used by the CLI.
    let created = admin(&app, &["access", "keys", "create", "li-na"]).await.success();
    let key = created.stdout.trim().to_owned();
    assert!(
        key.starts_with("crm_"),
        "stdout is the secret alone: {:?}",
        created.stdout
    );
    assert_eq!(created.stdout.lines().count(), 1);
    let me = crmctl(&app, None, &["--token", &key, "whoami", "-o", "json"])
        .await
        .success()
        .json();
    assert_eq!(me["principal"]["name"], "principals/li-na");
    let key_name = me["apiKey"].as_str().unwrap().to_owned();
    let keys = admin(&app, &["access", "keys", "list", "li-na", "-o", "ndjson"])
        .await
        .success()
        .ndjson();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["name"], key_name.as_str());
    assert!(
        !keys[0].to_string().contains(&key[key.len() - 10..]),
        "a list never shows the secret"
    );
    let revoked = admin_json(&app, &["access", "keys", "revoke", &key_name]).await;
    assert!(revoked["revokeTime"].is_string());
    crmctl(&app, None, &["--token", &key, "whoami"])
        .await
        .fails_with(4)
        .stderr_has("UNAUTHENTICATED");

    admin(&app, &["access", "bindings", "delete", &binding_name])
        .await
        .success();
    admin(&app, &["access", "bindings", "get", &binding_name])
        .await
        .fails_with(3);
    admin(&app, &["access", "principals", "delete", "li-na"])
        .await
        .success();
    admin(&app, &["access", "principals", "get", "li-na"])
        .await
        .fails_with(3);
}

async fn access_check_exits_zero_when_allowed_and_four_when_denied(app: TestApp) {
    admin(
        &app,
        &[
            "access",
            "principals",
            "create",
            "li-na",
            "--display-name",
            "Li Na",
            "--department",
            "sales",
        ],
    )
    .await
    .success();
    admin(
        &app,
        &["access", "bindings", "create", "li-na", "sales_rep", "--scope", "own"],
    )
    .await
    .success();
    let hers = create(
        &app,
        pb::Customer {
            owner: "principals/li-na".to_owned(),
            ..organization("Globex")
        },
    )
    .await;
    let other = create(&app, organization("Acme")).await;

    let allowed = admin(
        &app,
        &["access", "check", "li-na", "customers.update", &hers.name, "-o", "json"],
    )
    .await
    .success()
    .json();
    assert_eq!(allowed["allowed"], true);
    assert_eq!(allowed["reason"]["code"], "DECISION_REASON_CODE_GRANTED");
    assert_eq!(allowed["reason"]["role"], "roles/sales_rep");

    let denied = admin(
        &app,
        &[
            "access",
            "check",
            "principals/li-na",
            "customers.update",
            &other.name,
            "-o",
            "json",
        ],
    )
    .await
    .fails_with(4);
    let decision: Value = serde_json::from_str(&denied.stdout).expect("the decision is printed when denied");
    assert_eq!(decision.get("allowed"), None);
    assert_eq!(decision["reason"]["code"], "DECISION_REASON_CODE_OUT_OF_SCOPE");
    let explanation = decision["reason"]["explanation"].as_str().unwrap();
    assert!(explanation.starts_with("Denied"), "{explanation}");
    assert!(denied.stderr.contains("not allowed: Denied"), "{}", denied.stderr);

    let table = admin(&app, &["access", "check", "li-na", "customers.delete", &hers.name])
        .await
        .fails_with(4);
    assert!(table.stdout.starts_with("denied\n"), "{}", table.stdout);
    assert!(table.stdout.contains("NO_BINDING_WITH_PERMISSION"), "{}", table.stdout);
    admin(&app, &["access", "check", "li-na", "policy.read", "-"])
        .await
        .success();
    admin(&app, &["access", "check", "li-na", "customers.fly", &hers.name])
        .await
        .fails_with(1)
        .stderr_has("  permission: ");

    // Many questions at once, from an NDJSON file; results in order, errors per item.
    let dir = tempfile::tempdir().unwrap();
    let questions = dir.path().join("questions.ndjson");
    let lines = [
        format!(
            r#"{{"correlationId": "mine", "principal": "li-na", "permission": "customers.update", "customer": "{}"}}"#,
            hers.name
        ),
        String::new(),
        format!(
            r#"{{"correlationId": "theirs", "principal": "li-na", "permission": "customers.update", "customer": "{}"}}"#,
            other.name
        ),
        r#"{"correlationId": "bad", "principal": "li-na", "permission": "customers.fly", "customer": "acme"}"#
            .to_owned(),
    ];
    std::fs::write(&questions, lines.join("\n")).unwrap();
    let results = admin(
        &app,
        &["access", "check-batch", questions.to_str().unwrap(), "-o", "ndjson"],
    )
    .await
    .success()
    .ndjson();
    let ids: Vec<&str> = results.iter().map(|r| r["correlationId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["mine", "theirs", "bad"]);
    assert_eq!(results[0]["decision"]["allowed"], true);
    assert_eq!(
        results[1]["decision"]["reason"]["code"],
        "DECISION_REASON_CODE_OUT_OF_SCOPE"
    );
    assert_eq!(results[2]["error"]["code"], 3);
    std::fs::write(&questions, "{\"permission\": 7}").unwrap();
    admin(&app, &["access", "check-batch", questions.to_str().unwrap()])
        .await
        .fails_with(1)
        .stderr_has("line 1");

    // The audit log, filtered by actor and action.
    let events = admin_json(
        &app,
        &["access", "audit", "--actor", "admin", "--action", "CreateRoleBinding"],
    )
    .await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], "principals/admin");
    assert_eq!(events[0]["outcome"], "AUDIT_OUTCOME_ALLOWED");
    let csv = admin(&app, &["access", "audit", "--limit", "2", "-o", "csv"])
        .await
        .success();
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines[0], "time,actor,action,resource,outcome,detail");
    assert_eq!(lines.len(), 3, "{}", csv.stdout);
}

async fn classify_commands_record_activity_override_and_run(app: TestApp) {
    let acme = create(&app, organization("Acme")).await;
    // One absolute time for every run: crmctl reads a relative `-2d` against its own clock in
    // whole seconds, so two runs on either side of a second boundary would name two different
    // times for the same order (PURCHASE_CONFLICT). Relative times are covered by `--expire-time`.
    let two_days_ago = (chrono::Utc::now() - chrono::TimeDelta::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let purchase = [
        "classify",
        "purchase",
        "acme-id",
        "--order-ref",
        "SO-1",
        "--amount",
        "120000",
        "--time",
        &two_days_ago,
    ];
    let purchase: Vec<&str> = purchase
        .iter()
        .map(|a| if *a == "acme-id" { acme.name.as_str() } else { a })
        .collect();
    let first = admin_json(&app, &purchase).await;
    assert_eq!(first["purchase"]["name"], format!("{}/purchases/SO-1", acme.name));
    assert_eq!(first.get("alreadyRecorded"), None);
    assert_eq!(
        first["customer"]["classification"]["valueTier"]["value"]["valueTier"],
        "VALUE_TIER_HIGH"
    );
    let again = admin_json(&app, &purchase).await;
    assert_eq!(again["alreadyRecorded"], true);
    let mut refund = purchase.clone();
    refund[4] = "RF-1";
    refund[6] = "-100.50";
    let refund = admin_json(&app, &refund).await;
    assert_eq!(refund["purchase"]["amount"]["units"], "-100");
    assert_eq!(refund["purchase"]["amount"]["nanos"], -500_000_000);

    let table = admin(&app, &["classify", &acme.name]).await.success();
    assert!(table.stdout.contains("value_tier"), "{}", table.stdout);
    assert!(table.stdout.contains("HIGH"), "{}", table.stdout);
    assert!(
        table.stdout.contains("value_high_min"),
        "the reasons are shown: {}",
        table.stdout
    );
    let classified = admin_json(&app, &["classify", &acme.name]).await;
    assert_eq!(classified["name"], acme.name.as_str());

    let overridden = admin_json(
        &app,
        &[
            "classify",
            "override",
            &acme.name,
            "--grade",
            "vip",
            "--reason",
            "Board-level relationship",
            "--expire-time",
            "+90d",
        ],
    )
    .await;
    let grade = &overridden["classification"]["grade"];
    assert_eq!(grade["value"]["grade"], "GRADE_VIP");
    assert_eq!(grade["source"], "CLASS_SOURCE_OVERRIDE");
    assert_eq!(grade["override"]["reason"], "Board-level relationship");
    let cleared = admin_json(
        &app,
        &["classify", "clear-override", &acme.name, "--dimension", "grade"],
    )
    .await;
    assert_eq!(cleared["classification"]["grade"]["source"], "CLASS_SOURCE_RULE");
    admin(&app, &["classify", "override", &acme.name, "--reason", "x"])
        .await
        .fails_with(2);

    let interaction = admin_json(
        &app,
        &[
            "classify",
            "interaction",
            &acme.name,
            "--channel",
            "support-ticket",
            "--note",
            "called back",
        ],
    )
    .await;
    assert_eq!(interaction["channel"], "INTERACTION_CHANNEL_SUPPORT_TICKET");
    let interactions = admin(&app, &["classify", "interactions", &acme.name, "-o", "ndjson"])
        .await
        .success()
        .ndjson();
    assert_eq!(interactions.len(), 1);
    let purchases = admin(&app, &["classify", "purchases", &acme.name, "-o", "csv"])
        .await
        .success();
    let lines: Vec<&str> = purchases.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two purchases: {}", purchases.stdout);
    assert_eq!(lines[0], "name,order_ref,amount,currency,occur_time,recorder");
    assert!(
        lines.iter().any(|l| l.contains(",RF-1,-100.5,USD,")),
        "the amount as a number: {}",
        purchases.stdout
    );

    let run = admin(&app, &["classify", "run", "-o", "json"]).await.success();
    let summary = run.json();
    assert_eq!(summary["processed"], "1");
    assert_eq!(summary["policyVersion"], "1");
    assert!(
        run.stderr.contains("processed"),
        "progress goes to stderr: {}",
        run.stderr
    );

    let history = admin_json(&app, &["history", &acme.name, "--dimension", "grade"]).await;
    let history = history.as_array().unwrap();
    assert!(history.len() >= 3, "created, VIP, back: {history:?}");
    assert!(history.iter().all(|e| e["dimension"] == "DIMENSION_GRADE"));
    assert_eq!(history[0]["source"], "HISTORY_SOURCE_OVERRIDE");
    let to_vip = admin_json(&app, &["history", "-", "--dimension", "grade", "--value", "vip"]).await;
    assert_eq!(to_vip.as_array().unwrap().len(), 1);
    let csv = admin(&app, &["history", "--limit", "1", "-o", "csv"]).await.success();
    assert_eq!(csv.stdout.lines().count(), 2, "{}", csv.stdout);

    let stats = admin_json(&app, &["stats"]).await;
    assert_eq!(stats["totalCustomers"], "1");
    let csv = admin(&app, &["stats", "--by-department", "-o", "csv"]).await.success();
    assert!(csv.stdout.contains("value_tier,,HIGH,1"), "{}", csv.stdout);
    admin(&app, &["classify", "customers/nope"]).await.fails_with(3);
}

async fn a_policy_round_trips_through_a_json_file(app: TestApp) {
    let acme = create(&app, organization("Acme")).await;
    admin(
        &app,
        &[
            "classify",
            "purchase",
            &acme.name,
            "--order-ref",
            "SO-1",
            "--amount",
            "120000",
            "--time",
            "-1d",
        ],
    )
    .await
    .success();

    let mut active = admin_json(&app, &["policy", "get"]).await;
    assert_eq!(active["name"], "policies/1");
    active["policy"]["valueHighMin"]["units"] = Value::from("500000");
    active["description"] = Value::from("High value from 500k");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.json");
    std::fs::write(&file, serde_json::to_string_pretty(&active).unwrap()).unwrap();
    let file = file.to_str().unwrap();

    let checked = admin_json(&app, &["policy", "create", file, "--validate-only"]).await;
    assert_eq!(checked.get("version"), None, "validate-only stores nothing: version 0");
    assert_eq!(checked.get("name"), None, "and no name");
    assert_eq!(checked["description"], "High value from 500k");
    assert_eq!(admin_json(&app, &["policy", "list"]).await.as_array().unwrap().len(), 1);
    let created = admin_json(&app, &["policy", "create", file]).await;
    assert_eq!(created["name"], "policies/2");
    assert_eq!(created["description"], "High value from 500k");
    assert_eq!(created.get("active"), None);

    let preview = admin_json(&app, &["policy", "preview", "2"]).await;
    assert_eq!(preview["customersChanged"], "1");
    let value_tier = preview["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dimension"] == "DIMENSION_VALUE_TIER")
        .unwrap();
    assert_eq!(
        value_tier["transitions"][0]["fromValue"]["valueTier"],
        "VALUE_TIER_HIGH"
    );
    assert_eq!(
        value_tier["transitions"][0]["toValue"]["valueTier"],
        "VALUE_TIER_MEDIUM"
    );
    let unstored = admin_json(&app, &["policy", "preview", file]).await;
    assert_eq!(
        unstored.get("policyVersion"),
        None,
        "a policy given in full is version 0"
    );
    assert_eq!(unstored["customersChanged"], "1");
    let table = admin(&app, &["policy", "preview", "policies/2"]).await.success();
    assert!(table.stdout.contains("HIGH → MEDIUM"), "{}", table.stdout);

    let activated = admin_json(&app, &["policy", "activate", "2"]).await;
    assert_eq!(activated["active"], true);
    admin(&app, &["classify", "run"]).await.success();
    assert_eq!(admin_json(&app, &["policy", "get", "active"]).await["version"], "2");
    let versions = admin(&app, &["policy", "list", "-o", "ndjson"])
        .await
        .success()
        .ndjson();
    let names: Vec<&str> = versions.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["policies/2", "policies/1"]);
    let classified = admin_json(&app, &["classify", &acme.name]).await;
    assert_eq!(
        classified["classification"]["valueTier"]["value"]["valueTier"],
        "VALUE_TIER_MEDIUM"
    );
}

async fn an_invalid_policy_file_shows_every_field_violation(app: TestApp) {
    let mut policy = admin_json(&app, &["policy", "get", "active"]).await["policy"].clone();
    policy["valueHighMin"]["units"] = Value::from("1");
    policy["frequencyCuts"] = serde_json::json!([4, 2, 8, 12]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, policy.to_string()).unwrap();
    let failed = admin(&app, &["policy", "create", bad.to_str().unwrap()])
        .await
        .fails_with(1)
        .stderr_has("error: INVALID_ARGUMENT");
    let violations: Vec<&str> = failed.stderr.lines().filter(|l| l.starts_with("  policy.")).collect();
    assert!(
        violations.iter().any(|l| l.starts_with("  policy.value_high_min")),
        "{}",
        failed.stderr
    );
    assert!(
        violations.iter().any(|l| l.starts_with("  policy.frequency_cuts")),
        "{}",
        failed.stderr
    );
    assert!(failed.stdout.is_empty(), "nothing on stdout: {}", failed.stdout);

    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "window_days: 30").unwrap();
    admin(&app, &["policy", "create", not_json.to_str().unwrap()])
        .await
        .fails_with(1)
        .stderr_has("not JSON");
    let unknown = dir.path().join("unknown.json");
    std::fs::write(&unknown, r#"{"windowDayz": 30}"#).unwrap();
    admin(&app, &["policy", "create", unknown.to_str().unwrap()])
        .await
        .fails_with(1)
        .stderr_has("crm.v1.ClassificationPolicy");
    assert_eq!(admin_json(&app, &["policy", "list"]).await.as_array().unwrap().len(), 1);
}

e2e!(
    access_commands_manage_principals_roles_bindings_and_keys,
    access_check_exits_zero_when_allowed_and_four_when_denied,
    classify_commands_record_activity_override_and_run,
    a_policy_round_trips_through_a_json_file,
    an_invalid_policy_file_shows_every_field_violation,
);
