//! Tamper-evident audit log core: an RFC 6962 / RFC 9162 Merkle tree generic over the hash,
//! storage-independent proofs, a compact frontier, and C2SP signed-note checkpoints.
//!
//! Nothing here touches storage. Proof generation is split into "which perfect nodes are needed"
//! and "assemble from those nodes" so the async database layer can fetch in one round trip.

pub mod checkpoint;
pub mod frontier;
pub mod hash;
pub mod node;
pub mod note;
pub mod proof;
pub mod stored;
pub mod tree;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use frontier::{Frontier, FrontierError};
pub use hash::{Blake3, HASH_LEN, Hash, HashParseError, Sha256, TreeHash};
pub use node::{NodeId, NodeLookup};
pub use note::{NoteError, NoteSigner, NoteVerifier, VerifiedNote, open_note, sign_note};
pub use proof::{
    ProofError, consistency_proof, consistency_proof_nodes, inclusion_proof, inclusion_proof_nodes,
    root_hash, root_nodes,
};
pub use tree::{consistency_proof_from_leaves, inclusion_proof_from_leaves, root_from_leaves};
pub use verify::{VerifyError, root_from_inclusion_proof, verify_consistency, verify_inclusion};
