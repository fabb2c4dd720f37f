//! portgate-nft (being written).
