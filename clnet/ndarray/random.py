"""`mx.nd.random`: uniform, normal, randint (filled by the ops in `ops.random_ops`)."""
