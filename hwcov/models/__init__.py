"""models: inventory, tiny configs, input synthesis, model build, output flattening."""
