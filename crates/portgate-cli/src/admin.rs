//! `portgate admin ...`: speaks portgated's administration socket (one JSON request
//! per line, one JSON answer per line; see portgated's `control` module) and prints
//! the answer as text, or as the daemon's JSON with `--json`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use portgate_proto::json::{self, obj, Value};

/// Where portgated listens by default (its `control_socket` key).
pub const DEFAULT_SOCKET: &str = "/run/portgated.sock";

/// `portgate admin` arguments.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// portgated's administration socket (its control_socket key).
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(subcommand)]
    cmd: AdminCmd,
}

#[derive(Subcommand, Debug)]
enum AdminCmd {
    /// External address, uptime, epoch, counts and per-protocol counters.
    Status,
    /// Every mapping and pinhole: who made it, lease left, kernel packet counters.
    List,
    /// Delete one mapping (protocol and external port).
    Delete {
        /// The external port.
        external_port: u16,
        /// tcp or udp.
        #[arg(long, short, default_value = "tcp")]
        protocol: String,
    },
    /// Delete every mapping (IPv4 address) or pinhole (IPv6 address) of one LAN host.
    DeleteClient {
        /// The LAN host.
        client: IpAddr,
    },
    /// Reread portgated's configuration (refused, with the reason, when it is bad).
    Reload,
}

/// An error the daemon answered (exit code 4, like a gateway's refusal).
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "portgated refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// Sends one request and returns the answer (an error when `ok` is false).
pub fn ask(socket: &PathBuf, request: &Value) -> anyhow::Result<Value> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        anyhow::anyhow!(
            "cannot reach portgated at {}: {e} (is it running with control_socket there? root only)",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = request.to_string();
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer)?;
    let v = json::parse(answer.trim())
        .map_err(|e| anyhow::anyhow!("malformed answer from portgated: {e}"))?;
    if v.get("ok") != Some(&Value::Bool(true)) {
        let why = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(Refused(why.to_owned()).into());
    }
    Ok(v)
}

/// Runs `portgate admin ...`.
pub fn run(json_out: bool, a: &AdminArgs) -> anyhow::Result<()> {
    let request = match &a.cmd {
        AdminCmd::Status => obj([("cmd", "status".into())]),
        AdminCmd::List => obj([("cmd", "list".into())]),
        AdminCmd::Delete {
            external_port,
            protocol,
        } => obj([
            ("cmd", "delete".into()),
            ("protocol", protocol.to_ascii_lowercase().into()),
            ("external_port", (*external_port).into()),
        ]),
        AdminCmd::DeleteClient { client } => obj([
            ("cmd", "delete-client".into()),
            ("client", client.to_string().into()),
        ]),
        AdminCmd::Reload => obj([("cmd", "reload".into())]),
    };
    let v = ask(&a.socket, &request)?;
    if json_out {
        println!("{v}");
        return Ok(());
    }
    match &a.cmd {
        AdminCmd::Status => print!("{}", status_text(&v)),
        AdminCmd::List => print!("{}", list_text(&v)),
        AdminCmd::Delete { .. } => {
            let d = &v["deleted"];
            println!(
                "deleted {} {} -> {}:{}",
                text(&d["protocol"]),
                text(&d["external_port"]),
                text(&d["internal_client"]),
                text(&d["internal_port"])
            );
        }
        AdminCmd::DeleteClient { client } => {
            println!("deleted {} of {client}", text(&v["deleted"]));
        }
        AdminCmd::Reload => println!("reloading the configuration"),
    }
    Ok(())
}

/// A JSON value as plain text (`-` for null).
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_text(v: &Value) -> String {
    let mut out = format!(
        "external address {}\nuptime {} s, epoch {}\nmappings {}, pinholes {}\n",
        text(&v["external_address"]),
        text(&v["uptime"]),
        text(&v["epoch"]),
        text(&v["mappings"]),
        text(&v["pinholes"]),
    );
    out.push_str("protocol  requests  refusals  errors\n");
    for p in ["upnp", "natpmp", "pcp"] {
        let c = &v["counters"][p];
        out.push_str(&format!(
            "{p:<8}  {:>8}  {:>8}  {:>6}\n",
            text(&c["requests"]),
            text(&c["refusals"]),
            text(&c["errors"])
        ));
    }
    out
}

fn list_text(v: &Value) -> String {
    let mut out = String::new();
    let mappings = v["mappings"].as_array().unwrap_or_default();
    out.push_str(&format!("{} mapping(s)\n", mappings.len()));
    if !mappings.is_empty() {
        out.push_str("proto  ext port  internal               remote host      via      lease  packets  description\n");
    }
    for m in mappings {
        out.push_str(&format!(
            "{:<5}  {:>8}  {:<21}  {:<15}  {:<7}  {:>5}  {:>7}  {}\n",
            text(&m["protocol"]),
            text(&m["external_port"]),
            format!(
                "{}:{}",
                text(&m["internal_client"]),
                text(&m["internal_port"])
            ),
            text(&m["remote_host"]),
            text(&m["origin"]),
            text(&m["lease_left"]),
            text(&m["packets"]),
            text(&m["description"]),
        ));
    }
    let pinholes = v["pinholes"].as_array().unwrap_or_default();
    out.push_str(&format!("{} pinhole(s)\n", pinholes.len()));
    for p in pinholes {
        out.push_str(&format!(
            "#{} {} [{}]:{} from {} via {} lease {} packets {}\n",
            text(&p["uid"]),
            text(&p["protocol"]),
            text(&p["internal_client"]),
            text(&p["internal_port"]),
            text(&p["remote_host"]),
            text(&p["origin"]),
            text(&p["lease_left"]),
            text(&p["packets"]),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_status_text() {
        let v = json::parse(
            r#"{"ok": true, "mappings": [{"protocol": "tcp", "external_port": 8080,
            "internal_client": "10.0.0.2", "internal_port": 80, "remote_host": null,
            "origin": "pcp", "description": "web", "lease_left": 3599, "packets": 3}],
            "pinholes": []}"#,
        )
        .unwrap();
        let t = list_text(&v);
        assert!(t.starts_with("1 mapping(s)\n"), "{t}");
        assert!(t.contains("tcp        8080  10.0.0.2:80"), "{t}");
        assert!(t.contains("pcp"), "{t}");
        let s = status_text(
            &json::parse(
                r#"{"external_address": "203.0.113.1", "uptime": 5, "epoch": 5,
                "mappings": 1, "pinholes": 0,
                "counters": {"pcp": {"requests": 2, "refusals": 1, "errors": 0}}}"#,
            )
            .unwrap(),
        );
        assert!(s.contains("pcp              2         1       0"), "{s}");
        assert!(s.contains("upnp             -"), "{s}");
    }
}
