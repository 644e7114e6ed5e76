"""A user's own code, imported by path in the tests ("userpkg.models:tiny_mlp")."""
