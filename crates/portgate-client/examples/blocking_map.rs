//! Map a TCP port with whichever protocol the gateway speaks, keep it alive and print
//! every change, release it on exit (blocking front end, std only).
//!
//! `cargo run -p portgate-client --example blocking_map -- 8080 [renewals]`

use portgate_client::blocking::Client;
use portgate_client::mapper::{Event, MapSpec, Mapper, Via};
use portgate_client::Protocol;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().unwrap_or_else(|| "8080".into()).parse()?;
    let renewals: usize = args.next().unwrap_or_else(|| "3".into()).parse()?;
    let spec = MapSpec {
        protocol: Protocol::Tcp,
        internal_port: port,
        external_port: port,
        lease: 120,
        remote_host: None,
        description: "portgate example".into(),
        via: Via::Auto,
    };
    let mut mapper = Mapper::new(Client::new(), spec, None, None);
    let m = mapper.map()?;
    println!(
        "mapped {}:{} -> port {} via {} (lease {} s)",
        m.external_address
            .map_or_else(|| "?".to_string(), |a| a.to_string()),
        m.external_port,
        m.internal_port,
        m.via,
        m.lease
    );
    for _ in 0..renewals {
        for event in mapper.wait_and_renew() {
            match event {
                Event::Changed(old, new) => println!("changed: {old:?} -> {new:?}"),
                Event::Lost(why) => println!("lost: {why}"),
                other => println!("{other:?}"),
            }
        }
    }
    mapper.release()?;
    println!("released");
    Ok(())
}
