//! `portgate-ssdpd`: the SSDP cache daemon (see [`portgate_ssdpd::main`]).

fn main() -> std::process::ExitCode {
    portgate_ssdpd::main()
}
