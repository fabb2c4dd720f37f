//! `portgate`: the command-line client (see [`portgate_cli::main`]).

fn main() -> std::process::ExitCode {
    portgate_cli::main()
}
