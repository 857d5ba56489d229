/* Faster float math for the elementwise kernels (elemwise.cl, fused.cl), prepended to their
 * source by clnet.ops.mapping.prelude when the compute type is float; double keeps the
 * builtins. Each function is an overload for float and float8 (the vector width of ew_vec and
 * of the fused kernels) and replaces the builtin of the same name through a macro, so the
 * expressions printed from sympy need no change. The builtins are called inside the bodies,
 * written before the names are redefined (pocl's own headers rename them to _cl_* macros).
 *
 * NOTE: on pocl 3 (SLEEF builtins, 2-core EPYC) float8 tanh(a*b+a) ran at ~10 GB/s against
 * ~25 for a*b+a alone; the rational tanh below at ~85% of the a*b+a speed.
 *
 * tanh: c P(c^2) / Q(c^2) with P of degree 6 and Q of degree 3, c = x clamped to
 * [-7.9988, 7.9988] (where tanh rounds to +-1 in float). clnet's own fit: least squares on
 * the relative error, linearised and iterated (Sanathanan-Koerner, then Lawson weights), in
 * u = c^2/64 for conditioning: 1.8e-9 in exact arithmetic, 3.3e-7 max relative error
 * evaluated in float over the whole range, |result| <= 1; x itself below 4e-4, where
 * tanh(x) = x within half an ulp. NaN stays NaN
 * (the comparison is false for it), +-inf gives +-1.
 *
 * pow: pocl's float pow runs at ~1.5 GB/s (about 30x below the memory bound). A scalar
 * exponent (`x**s`, one value for the whole launch, so the test is a uniform branch) of 0, 1,
 * 2, 3 or -1 becomes products or a division, within pow's accuracy (correctly rounded but
 * for x*x*x's two roundings); x**2 from `x ** 2` is the common case. Other exponents keep
 * the builtin.
 *
 * sin, cos: pocl's float8 ones ran 4-8x below the copy speed; these are 2-4x faster.
 * x = k pi/2 + r with k the nearest integer, r from a three-part (Cody-Waite) reduction (pi/2
 * split into floats with trailing zero bits, so k * part is exact for |x| <= 8192), then
 * polynomials for sin r and cos r on [-pi/4, pi/4] picked and signed by k mod 4. The
 * coefficients are clnet's own minimax fits (Lawson's iteration on least squares): sin within
 * 7.1e-8 relative, cos within 7.4e-8 absolute, evaluated in float; the builtins' accuracy.
 * Lanes with larger |x| (and inf) take the builtin; NaN gives NaN.
 *
 * Measured and kept as builtins: exp (at the copy speed already), log (a polynomial logf was
 * no faster than pocl's).
 */
/* Overloads need clang's attribute (pocl, ROCm and Intel compile with clang); elsewhere the
 * builtins stay. */
#if defined(__has_attribute)
#if __has_attribute(overloadable)
#define FM_ENABLED 1
#endif
#endif
#ifdef FM_ENABLED
#define FM_INLINE static inline __attribute__((always_inline, overloadable))

/* NOTE: pocl: builtin fabs and clamp on float8 cost the tanh below a third of its speed in
 * tanh(a*b+a) (31 -> 45 GB/s without them); a sign mask and two selects are instructions. */
#define FM_FABS(V, IV)                                                                  \
FM_INLINE V clnet_fabs(const V x) { return as_##V(as_##IV(x) & (IV)0x7fffffff); }

#define FM_TANH(V)                                                                      \
FM_INLINE V clnet_tanh(const V x) {                                                     \
    const V hi = x > (V)7.99881172180175781f ? (V)7.99881172180175781f : x;             \
    const V c = hi < (V)-7.99881172180175781f ? (V)-7.99881172180175781f : hi;          \
    const V c2 = c * c;                                                                 \
    V p = c2 * (V)-1.1568248800292863e-13f + (V)6.366825122672282e-11f;                 \
    p = c2 * p + (V)-2.2316996250992815e-08f;                                           \
    p = c2 * p + (V)1.1642966455838177e-05f;                                            \
    p = c2 * p + (V)0.003149412339553237f;                                              \
    p = c2 * p + (V)0.13124391436576843f;                                               \
    p = c2 * p + (V)1.0f;                                                               \
    V q = c2 * (V)0.0002613044925965369f + (V)0.024675188586115837f;                    \
    q = c2 * q + (V)0.46457722783088684f;                                               \
    q = c2 * q + (V)1.0f;                                                               \
    return clnet_fabs(x) >= (V)0.0004f ? c * p / q : x;                                 \
}

#define FM_POW(V)                                                                       \
FM_INLINE V clnet_pow(const V x, const float y) {                                        \
    if (y == 2.0f) return x * x;                                                        \
    if (y == 3.0f) return x * x * x;                                                    \
    if (y == -1.0f) return (V)1.0f / x;                                                 \
    if (y == 1.0f) return x;                                                            \
    if (y == 0.0f) return (V)1.0f;                                                      \
    return pow(x, (V)y);                                                                \
}

/* sin (COS 0) or cos (COS 1) of x; ANY reduces a comparison to one truth value (any() for
 * vectors; nothing for scalars, whose comparisons give 1, not a set sign bit). */
#define FM_SINCOS(V, IV, NAME, COS, ANY, BUILTIN)                                       \
FM_INLINE V NAME(const V x) {                                                           \
    const V ax = clnet_fabs(x);                                                         \
    /* NOTE: pocl's rint is a slow call; floor(a + 0.5) is an instruction */              \
    const V k = floor(ax * (V)0.636619772367581343f + (V)0.5f);                          \
    V r = ax - k * (V)1.5703125f;                                                       \
    r = r - k * (V)4.83751296997070312e-4f;                                             \
    r = r - k * (V)7.54978995489188216e-8f;                                             \
    const V z = r * r;                                                                  \
    const V s = r + r * z * ((V)-0.16666655242443085f + z * ((V)0.00833216030150652f            \
                              + z * (V)-0.00019515231542754918f));                              \
    const V c = (V)1.0f - (V)0.5f * z + z * z * ((V)0.04166664555668831f               \
                + z * ((V)-0.0013887366512790322f + z * (V)2.4438386390102096e-05f));      \
    const IV q = convert_##IV(k) + (IV)(COS);                                           \
    const V res = (q & (IV)1) != (IV)0 ? c : s;                                         \
    /* the sign: k mod 4 in {2, 3}, and for sin (odd) the sign of x, -0 included */     \
    const IV flip = ((q & (IV)2) != (IV)0 ? (IV)0x80000000 : (IV)0)                     \
                    ^ (COS ? (IV)0 : as_##IV(x) & (IV)0x80000000);                      \
    const V out = as_##V(as_##IV(res) ^ flip);                                          \
    /* per lane: pocl's float8 sin of a denormal is wrong when another lane is large */  \
    return ANY(ax > (V)8192.0f) ? (ax > (V)8192.0f ? BUILTIN(x) : out) : out;           \
}
#define FM_SCALAR(c) (c)

FM_FABS(float, int)
FM_FABS(float8, int8)
FM_TANH(float)
FM_TANH(float8)
FM_SINCOS(float, int, clnet_sin, 0, FM_SCALAR, sin)
FM_SINCOS(float8, int8, clnet_sin, 0, any, sin)
FM_SINCOS(float, int, clnet_cos, 1, FM_SCALAR, cos)
FM_SINCOS(float8, int8, clnet_cos, 1, any, cos)
FM_POW(float)
FM_POW(float8)
FM_INLINE float8 clnet_pow(const float8 x, const float8 y) { return pow(x, y); }
FM_INLINE float8 clnet_pow(const float x, const float8 y) { return pow((float8)x, y); }
#undef fabs
#define fabs(a) clnet_fabs(a)
#undef tanh /* pocl's headers define it as a macro too */
#define tanh(a) clnet_tanh(a)
#undef pow
#define pow(a, b) clnet_pow(a, b)
#undef sin
#define sin(a) clnet_sin(a)
#undef cos
#define cos(a) clnet_cos(a)
#endif /* FM_ENABLED */
