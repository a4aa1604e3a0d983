//! The `voxdose` binary: parse, run, map the error to an exit code. Nothing else.

fn main() {
    quiet_on_closed_pipe();
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

/// Output to a closed pipe (`voxdose nuclides | head`) ends the process quietly, as `ls | head`
/// does, instead of a panic with a backtrace: Rust ignores SIGPIPE, so `println!` panics.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if payload.starts_with("failed printing to std") && payload.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}
