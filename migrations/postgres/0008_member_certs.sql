-- Client certificates pinned to a member (docs/security.md, "Member mTLS"): JSON with
-- SHA-256 fingerprints and issuer (CA certificate plus subject) pins; empty means the
-- member's keys work without a certificate.
ALTER TABLE members ADD COLUMN client_cert_pins TEXT NOT NULL DEFAULT '';
