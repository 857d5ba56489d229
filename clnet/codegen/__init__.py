"""Kernel source generation: sympy expressions printed as OpenCL C, and `.cl` templates
rendered with defines. Knows nothing about devices or arrays."""
