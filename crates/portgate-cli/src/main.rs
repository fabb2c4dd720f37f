//! `portgate`: the command-line client (being written; see issue tracker).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("portgate: the command-line client is not built yet")
}
