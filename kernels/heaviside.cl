/* HEAVISIDE(a): 1 where a > 0, else 0 (NaN included), as CT, prepended to the elementwise
 * programs by clnet.ops.mapping.prelude. sympy's Heaviside (the derivative of relu, max, min)
 * prints as this macro rather than a comparison: a comparison gives 1 on scalars but -1 on
 * vector lanes, so expressions holding one run only in the scalar kernels. Here the value is
 * the same on both, and ew_vec and the fused vector kernels take such expressions.
 * HV_FLOAT (defined by the prelude for float compute types): fmin/fmax return the number
 * when the other operand is NaN, and ceil maps (0, 1] to 1; for integers a clamp to [0, 1]
 * is enough. */
#ifdef HV_FLOAT
#define HEAVISIDE(a) ceil(fmin(fmax((a), (CT)0), (CT)1))
#else
#define HEAVISIDE(a) min(max((a), (CT)0), (CT)1)
#endif
