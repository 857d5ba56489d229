/* Fused optimizer updates: one kernel per update rule, each reading weight, gradient and
 * states once and writing weight and states once (MXNet's sgd_update, sgd_mom_update,
 * nag_mom_update, adam_update, _contrib_adamw_update, rmsprop_update, rmspropalex_update,
 * ftrl_update, signsgd_update, signum_update, mp_sgd_update, mp_sgd_mom_update,
 * mp_nag_mom_update, and the AdaGrad / AdaDelta steps of MXNet's Python optimizers).
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T     element type of weight, gradient and states: float, double or half
 *   CT    compute type, also of the scalar arguments: float for half, else T
 *   SFX   kernel-name suffix: the dtype, e.g. f32
 *   VW    elements per vector (32 bytes of CT: 8 for float, 4 for double)
 *   HALF  1 when T is half: T arrays are read and written with vload_half / vstore_half (core
 *         OpenCL: no cl_khr_fp16 needed), and the mixed-precision kernels opt_mp_* are built
 *         (float32 master weight and states, half weight and gradient)
 *
 * Launch: 1-D, one work-item per VW consecutive elements, global size >= ceil(n / VW),
 * guarded. Each array comes as (pointer, element offset); n is a long. `vec` = 1 when every
 * offset is a multiple of VW: a full group of VW elements is then computed as one CT vector
 * loaded through a cast pointer (NOTE: pocl: vload/vstore and fma() compile to slow calls, a
 * cast vector pointer does not); otherwise, and for the tail, element by element. Every
 * update rule is one macro over (V: CT or its vector, load/store macros), so both paths share
 * its text.
 *
 * Scalars are kernel arguments, so one build serves every step: lr, wd, rescale (rescale_grad),
 * clip (clip_gradient; < 0 means no clipping), and per rule (w weight, g gradient):
 *   opt_sgd_SFX(w, g; lr, wd, rescale, clip)
 *   opt_sgd_mom_SFX(w, g, mom; lr, wd, rescale, clip, momentum)
 *   opt_nag_mom_SFX(w, g, mom; lr, wd, rescale, clip, momentum)
 *   opt_adam_SFX(w, g, mean, var; lr, wd, rescale, clip, beta1, beta2, epsilon)
 *   opt_adamw_SFX(w, g, mean, var; lr, wd, rescale, clip, beta1, beta2, epsilon, eta)
 *   opt_rmsprop_SFX(w, g, n; lr, wd, rescale, clip, gamma1, epsilon, clip_weights)
 *   opt_rmspropalex_SFX(w, g, n, gm, delta; lr, wd, rescale, clip, gamma1, gamma2, epsilon,
 *                       clip_weights)                       (clip_weights < 0: no clipping)
 *   opt_adagrad_SFX(w, g, history; lr, wd, rescale, clip, epsilon)
 *   opt_adadelta_SFX(w, g, acc_g, acc_delta; wd, rescale, clip, rho, epsilon)
 *   opt_signsgd_SFX(w, g; lr, wd)
 *   opt_signum_SFX(w, g, mom; lr, wd, rescale, clip, momentum, wd_lh)
 *   opt_ftrl_SFX(w, g, z, n; lr, wd, rescale, clip, lamda1, beta)
 * and when HALF, with float arrays w32 (master weight) and mom:
 *   opt_mp_sgd_SFX(w, g, w32; lr, wd, rescale, clip)
 *   opt_mp_sgd_mom_SFX(w, g, mom, w32; lr, wd, rescale, clip, momentum)
 *   opt_mp_nag_mom_SFX(w, g, mom, w32; lr, wd, rescale, clip, momentum)
 */
#ifndef T
#define T float
#define CT float
#define SFX f32
#define VW 8
#define HALF 0
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SFX)
#define VCAT_(a, b) a##b
#define VCAT(a, b) VCAT_(a, b)
#define VCT VCAT(CT, VW)

/* Loads and stores at index k (a vector index on the vector path): LD/ST for T arrays,
 * LDF/STF for CT arrays (the master weight and states of the mixed-precision kernels). */
#define LDSF(p) ((p)[k])
#define STSF(p, v) ((p)[k] = (v))
#define LDVF(p) (((__global const VCT *)(p))[k])
#define STVF(p, v) (((__global VCT *)(p))[k] = (v))
#if HALF
#define LDS(p) vload_half(k, p)
#define STS(p, v) vstore_half(v, k, p)
#define LDV(p) VCAT(vload_half, VW)(k, p)
#define STV(p, v) VCAT(vstore_half, VW)(v, k, p)
#else
#define LDS LDSF
#define STS STSF
#define LDV LDVF
#define STV STVF
#endif

/* The element loop every kernel shares: BODY(V, LD, ST, LDF, STF). */
#define FOR_EACH(BODY)                                                                   \
    const long i = get_global_id(0);                                                    \
    const long start = i * VW;                                                          \
    if (vec && start + VW <= n) {                                                       \
        const long k = i;                                                               \
        BODY(VCT, LDV, STV, LDVF, STVF)                                                 \
    } else {                                                                            \
        const long stop = min(start + (long)VW, n);                                     \
        for (long k = start; k < stop; ++k) {                                           \
            BODY(CT, LDS, STS, LDSF, STSF)                                              \
        }                                                                               \
    }

#define ARRAY(x) __global T *x##_p, const long x##_off
#define CARRAY(x) __global const T *x##_p, const long x##_off
#define FARRAY(x) __global CT *x##_p, const long x##_off
#define AT(x) (x##_p + x##_off)
#define HEAD const long n, const int vec, ARRAY(w), CARRAY(g)
#define CLIP(x) (clip >= (CT)0 ? clamp((x), -clip, clip) : (x))

/* -- plain SGD, SGD with momentum, Nesterov momentum ----------------------------------------- */
#define SGD(V, LD, ST, LDF, STF) {                                                       \
    const V w = LD(W), g = CLIP(rescale * LD(G));                                       \
    ST(W, ((CT)1 - lr * wd) * w - lr * g); }

__kernel void KN(opt_sgd)(HEAD, const CT lr, const CT wd, const CT rescale, const CT clip)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    FOR_EACH(SGD)
}

#define SGD_MOM(V, LD, ST, LDF, STF) {                                                   \
    const V w = LD(W), g = CLIP(rescale * LD(G));                                       \
    const V m = momentum * LD(M) - lr * wd * w - lr * g;                                \
    ST(M, m); ST(W, w + m); }

__kernel void KN(opt_sgd_mom)(HEAD, ARRAY(mom), const CT lr, const CT wd, const CT rescale,
                              const CT clip, const CT momentum)
{
    __global T *W = AT(w); __global const T *G = AT(g); __global T *M = AT(mom);
    FOR_EACH(SGD_MOM)
}

#define NAG_MOM(V, LD, ST, LDF, STF) {                                                   \
    const V w = LD(W), g = CLIP(rescale * LD(G)) + wd * w;                              \
    const V m = momentum * LD(M) + g;                                                   \
    ST(M, m); ST(W, w - lr * (momentum * m + g)); }

__kernel void KN(opt_nag_mom)(HEAD, ARRAY(mom), const CT lr, const CT wd, const CT rescale,
                              const CT clip, const CT momentum)
{
    __global T *W = AT(w); __global const T *G = AT(g); __global T *M = AT(mom);
    FOR_EACH(NAG_MOM)
}

/* -- Adam (wd inside the clipped gradient) and AdamW (decoupled wd, eta schedule) ------------- */
#define ADAM(V, LD, ST, LDF, STF) {                                                      \
    const V w = LD(W), g = CLIP(rescale * LD(G) + wd * w);                              \
    const V m = beta1 * LD(M) + ((CT)1 - beta1) * g;                                    \
    const V v = beta2 * LD(S) + ((CT)1 - beta2) * g * g;                                \
    ST(M, m); ST(S, v); ST(W, w - lr * m / (sqrt(v) + epsilon)); }

__kernel void KN(opt_adam)(HEAD, ARRAY(mean), ARRAY(var), const CT lr, const CT wd,
                           const CT rescale, const CT clip, const CT beta1, const CT beta2,
                           const CT epsilon)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    __global T *M = AT(mean); __global T *S = AT(var);
    FOR_EACH(ADAM)
}

#define ADAMW(V, LD, ST, LDF, STF) {                                                     \
    const V w = LD(W), g = CLIP(rescale * LD(G));                                       \
    const V m = beta1 * LD(M) + ((CT)1 - beta1) * g;                                    \
    const V v = beta2 * LD(S) + ((CT)1 - beta2) * g * g;                                \
    ST(M, m); ST(S, v); ST(W, w - eta * (lr * m / (sqrt(v) + epsilon) + wd * w)); }

__kernel void KN(opt_adamw)(HEAD, ARRAY(mean), ARRAY(var), const CT lr, const CT wd,
                            const CT rescale, const CT clip, const CT beta1, const CT beta2,
                            const CT epsilon, const CT eta)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    __global T *M = AT(mean); __global T *S = AT(var);
    FOR_EACH(ADAMW)
}

/* -- RMSProp: Tieleman & Hinton, and Graves' centered form ----------------------------------- */
#define CLIPW(x) (clip_weights >= (CT)0 ? clamp((x), -clip_weights, clip_weights) : (x))

#define RMSPROP(V, LD, ST, LDF, STF) {                                                   \
    const V w = LD(W), g = CLIP(rescale * LD(G) + wd * w);                              \
    const V s = ((CT)1 - gamma1) * g * g + gamma1 * LD(N);                              \
    ST(N, s); ST(W, CLIPW(w - lr * (g / sqrt(s + epsilon)))); }

__kernel void KN(opt_rmsprop)(HEAD, ARRAY(n), const CT lr, const CT wd, const CT rescale,
                              const CT clip, const CT gamma1, const CT epsilon,
                              const CT clip_weights)
{
    __global T *W = AT(w); __global const T *G = AT(g); __global T *N = AT(n);
    FOR_EACH(RMSPROP)
}

#define RMSPROPALEX(V, LD, ST, LDF, STF) {                                               \
    const V w = LD(W), g = CLIP(rescale * LD(G) + wd * w);                              \
    const V s = ((CT)1 - gamma1) * g * g + gamma1 * LD(N);                              \
    const V a = ((CT)1 - gamma1) * g + gamma1 * LD(A);                                  \
    const V d = gamma2 * LD(D) - lr * (g / sqrt(s - a * a + epsilon));                  \
    ST(N, s); ST(A, a); ST(D, d); ST(W, CLIPW(w + d)); }

__kernel void KN(opt_rmspropalex)(HEAD, ARRAY(n), ARRAY(gm), ARRAY(delta), const CT lr,
                                  const CT wd, const CT rescale, const CT clip,
                                  const CT gamma1, const CT gamma2, const CT epsilon,
                                  const CT clip_weights)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    __global T *N = AT(n); __global T *A = AT(gm); __global T *D = AT(delta);
    FOR_EACH(RMSPROPALEX)
}

/* -- AdaGrad and AdaDelta (MXNet's Python steps, fused) --------------------------------------- */
#define ADAGRAD(V, LD, ST, LDF, STF) {                                                   \
    const V w = LD(W), g = CLIP(rescale * LD(G));                                       \
    const V h = LD(H) + g * g;                                                          \
    ST(H, h); ST(W, w - lr * (g / sqrt(h + epsilon) + wd * w)); }

__kernel void KN(opt_adagrad)(HEAD, ARRAY(history), const CT lr, const CT wd,
                              const CT rescale, const CT clip, const CT epsilon)
{
    __global T *W = AT(w); __global const T *G = AT(g); __global T *H = AT(history);
    FOR_EACH(ADAGRAD)
}

#define ADADELTA(V, LD, ST, LDF, STF) {                                                  \
    const V w = LD(W), g = CLIP(rescale * LD(G));                                       \
    const V ag = rho * LD(AG) + ((CT)1 - rho) * g * g;                                  \
    const V ad = LD(AD);                                                                \
    const V d = sqrt(ad + epsilon) / sqrt(ag + epsilon) * g;                            \
    ST(AG, ag); ST(AD, rho * ad + ((CT)1 - rho) * d * d); ST(W, w - (d + wd * w)); }

__kernel void KN(opt_adadelta)(HEAD, ARRAY(acc_g), ARRAY(acc_delta), const CT wd,
                               const CT rescale, const CT clip, const CT rho,
                               const CT epsilon)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    __global T *AG = AT(acc_g); __global T *AD = AT(acc_delta);
    FOR_EACH(ADADELTA)
}

/* -- signSGD and Signum (MXNet ignores clip and rescale in signSGD) --------------------------- */
#define SIGNSGD(V, LD, ST, LDF, STF) {                                                   \
    const V w = LD(W);                                                                  \
    ST(W, ((CT)1 - lr * wd) * w - lr * sign(LD(G))); }

__kernel void KN(opt_signsgd)(HEAD, const CT lr, const CT wd)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    FOR_EACH(SIGNSGD)
}

#define SIGNUM(V, LD, ST, LDF, STF) {                                                    \
    const V w = LD(W), g = CLIP(rescale * LD(G));                                       \
    const V m = momentum * LD(M) - ((CT)1 - momentum) * (wd * w + g);                   \
    ST(M, m); ST(W, ((CT)1 - lr * wd_lh) * w + lr * sign(m)); }

__kernel void KN(opt_signum)(HEAD, ARRAY(mom), const CT lr, const CT wd, const CT rescale,
                             const CT clip, const CT momentum, const CT wd_lh)
{
    __global T *W = AT(w); __global const T *G = AT(g); __global T *M = AT(mom);
    FOR_EACH(SIGNUM)
}

/* -- FTRL-Proximal. step(lamda1, |z|) is MXNet's (|z| > lamda1): where |z| == lamda1 the
 * numerator sign(z) * lamda1 - z is 0 anyway. ------------------------------------------------- */
#define FTRL(V, LD, ST, LDF, STF) {                                                      \
    const V w = LD(W), g = CLIP(rescale * LD(G));                                       \
    const V n0 = LD(N), n1 = n0 + g * g;                                                \
    const V z = LD(Z) + g - (sqrt(n1) - sqrt(n0)) * w / lr;                             \
    ST(Z, z); ST(N, n1);                                                                \
    ST(W, (sign(z) * lamda1 - z) / ((beta + sqrt(n1)) / lr + wd) * step(lamda1, fabs(z))); }

__kernel void KN(opt_ftrl)(HEAD, ARRAY(z), ARRAY(n), const CT lr, const CT wd,
                           const CT rescale, const CT clip, const CT lamda1, const CT beta)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    __global T *Z = AT(z); __global T *N = AT(n);
    FOR_EACH(FTRL)
}

#if HALF
/* -- mixed precision: float32 master weight W32 (and momentum), half weight and gradient ------ */
#define MP_SGD(V, LD, ST, LDF, STF) {                                                    \
    const V w = LDF(W32), g = CLIP(rescale * LD(G));                                    \
    const V w1 = ((CT)1 - lr * wd) * w - lr * g;                                        \
    STF(W32, w1); ST(W, w1); }

__kernel void KN(opt_mp_sgd)(HEAD, FARRAY(w32), const CT lr, const CT wd, const CT rescale,
                             const CT clip)
{
    __global T *W = AT(w); __global const T *G = AT(g); __global CT *W32 = AT(w32);
    FOR_EACH(MP_SGD)
}

#define MP_SGD_MOM(V, LD, ST, LDF, STF) {                                                \
    const V w = LDF(W32), g = CLIP(rescale * LD(G));                                    \
    const V m = momentum * LDF(M) - lr * wd * w - lr * g;                               \
    STF(M, m); STF(W32, w + m); ST(W, w + m); }

__kernel void KN(opt_mp_sgd_mom)(HEAD, FARRAY(mom), FARRAY(w32), const CT lr, const CT wd,
                                 const CT rescale, const CT clip, const CT momentum)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    __global CT *M = AT(mom); __global CT *W32 = AT(w32);
    FOR_EACH(MP_SGD_MOM)
}

#define MP_NAG_MOM(V, LD, ST, LDF, STF) {                                                \
    const V w = LDF(W32), g = CLIP(rescale * LD(G)) + wd * w;                           \
    const V m = momentum * LDF(M) + g;                                                  \
    const V w1 = w - lr * (momentum * m + g);                                           \
    STF(M, m); STF(W32, w1); ST(W, w1); }

__kernel void KN(opt_mp_nag_mom)(HEAD, FARRAY(mom), FARRAY(w32), const CT lr, const CT wd,
                                 const CT rescale, const CT clip, const CT momentum)
{
    __global T *W = AT(w); __global const T *G = AT(g);
    __global CT *M = AT(mom); __global CT *W32 = AT(w32);
    FOR_EACH(MP_NAG_MOM)
}
#endif
