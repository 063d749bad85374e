"""rust-on-aws components: one ComponentResource per AWS concept, plus settings and contracts."""
