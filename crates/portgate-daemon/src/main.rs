//! `portgated`: the gateway daemon binary (see [`portgate_daemon::run`]).

fn main() -> std::process::ExitCode {
    portgate_daemon::run::main()
}
