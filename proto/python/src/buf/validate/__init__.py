"""Generated from the luca buf module by scripts/gen_proto.py. Do not edit."""
