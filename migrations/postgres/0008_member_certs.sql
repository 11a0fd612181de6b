-- Client certificates pinned to a member (docs/security.md, "Member mTLS"): SHA-256
-- fingerprints in hex, comma-separated; empty means the member's keys work without one.
ALTER TABLE members ADD COLUMN client_cert_pins TEXT NOT NULL DEFAULT '';
