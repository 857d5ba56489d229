/* HEAVISIDE(a): 1 where a > 0, else 0 (NaN included); SIGN(a): -1, 0 or 1 (0 at NaN, as
 * MXNet's sign); both as CT, prepended to the elementwise programs by clnet.ops.mapping.prelude.
 * sympy's Heaviside (the derivative of relu, max, min) and sign (abs's) print as these macros
 * rather than comparisons: a comparison gives 1 on scalars but -1 on vector lanes, so
 * expressions holding one run only in the scalar kernels. Here the value is the same on both,
 * and ew_vec and the fused vector kernels take such expressions.
 * HV_FLOAT (defined by the prelude for float compute types): fmin/fmax return the number when
 * the other operand is NaN, and ceil maps (0, 1] to 1; for integers a clamp is enough.
 * HV_UNSIGNED (unsigned compute types): SIGN clamps to [0, 1], (CT)-1 being the largest value
 * there; for signed integers a clamp to [-1, 1] (no negation, which overflows at the least
 * value). */
#ifdef HV_FLOAT
#define HEAVISIDE(a) ceil(fmin(fmax((a), (CT)0), (CT)1))
#else
#define HEAVISIDE(a) min(max((a), (CT)0), (CT)1)
#endif

#ifdef HV_FLOAT
#define SIGN(a) (HEAVISIDE(a) - HEAVISIDE(-(a)))
#elif defined(HV_UNSIGNED)
#define SIGN(a) min((a), (CT)1)
#else
#define SIGN(a) clamp((a), (CT)-1, (CT)1)
#endif
