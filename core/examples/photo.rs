//! Runs exactly the device photo pipeline on one file and prints one JSON line:
//! `cargo run --release -p xuncha-core --example photo -- IN.jpg OUT_DIR`

use std::path::PathBuf;
use std::process::ExitCode;

use xuncha_core::photo::{self, PhotoOptions};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, out_dir] = args.as_slice() else {
        eprintln!("usage: photo IN.jpg OUT_DIR");
        return ExitCode::from(2);
    };
    match photo::process_file(input, out_dir, &PhotoOptions::default()) {
        Ok(stored) => match serde_json::to_string(&stored) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("cannot print result: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            let line = serde_json::json!({ "code": error.code(), "message": error.to_string() });
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}
