//! Compiles `proto/` with protox (a pure-Rust protobuf compiler, so no `protoc` is needed) and
//! generates the tonic/prost code. protox's descriptor set is also written to `OUT_DIR`, because
//! `compile_fds` writes none and server reflection needs one.

use std::{env, error::Error, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "crm/v1/customer.proto",
    "crm/v1/customer_service.proto",
    "crm/v1/error_reason.proto",
    "crm/v1/access.proto",
    "crm/v1/access_service.proto",
    "crm/v1/classification.proto",
    "crm/v1/classification_service.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let fds = protox::compile(PROTOS, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("crm_descriptor.bin"), fds.encode_to_vec())?;

    // Type names (`prost::Name`) let the CLI find each message's descriptor for proto3 JSON.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
