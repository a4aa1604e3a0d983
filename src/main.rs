//! The `voxdose` binary: parse, run, map the error to an exit code. Nothing else.

fn main() {
    let code = match voxdose::cli::run_from_args() {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("voxdose: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            err.exit_code()
        }
    };
    std::process::exit(code);
}
