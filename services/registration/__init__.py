"""Registration: practices, rosters, invitations, identity matching and verification codes."""
