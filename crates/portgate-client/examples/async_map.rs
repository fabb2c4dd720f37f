//! The same as `blocking_map`, from a tokio program (feature `tokio`): map, keep alive
//! with tokio timers, release.
//!
//! `cargo run -p portgate-client --features tokio --example async_map -- 8080 [renewals]`

use portgate_client::asynch::AsyncMapper;
use portgate_client::blocking::Client;
use portgate_client::mapper::{MapSpec, Mapper, Via};
use portgate_client::Protocol;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    let mut mapper = AsyncMapper::new(Mapper::new(Client::new(), spec, None, None));
    let m = mapper.map().await?;
    println!("mapped external port {} via {}", m.external_port, m.via);
    for _ in 0..renewals {
        for event in mapper.wait_and_renew().await {
            println!("{event:?}");
        }
    }
    mapper.release().await?;
    println!("released");
    Ok(())
}
