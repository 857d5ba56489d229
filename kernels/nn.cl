/* Layer kernels: the gradient of a softmax against integer class labels (SoftmaxOutput,
 * softmax_cross_entropy).
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T       element type of probabilities, labels and gradients (float, double or half)
 *   CT      compute type: T, or float for half
 *   SUFFIX  kernel-name suffix: the dtype's short name, e.g. f32
 *
 * Kernels, 1-D launch over rows * inner work-items (padded to the local size, guarded),
 * sizes passed as long, offsets in elements:
 *   softmax_label_grad_SUFFIX  prob and grad seen as (rows, nclass, inner), label as
 *       (rows, inner); work-item (r, c) reads k = (long)label[r, c] (truncating, as MXNet's
 *       static_cast) and writes grad[r, j, c] = (prob[r, j, c] - target_j) * scale with
 *       target_j = 1 - alpha at j == k and alpha / (nclass - 1) elsewhere (label smoothing;
 *       a k outside [0, nclass) matches no class). With use_ignore and k == (long)ignore the
 *       column is 0. norm_mode 1 multiplies scale by norm[0] (a head gradient), 2 divides it
 *       by max(norm[0], 1) (a count of valid labels); both are read on the device, so nothing
 *       waits on the host. grad may be prob itself (each element is read, then written, by
 *       one work-item).
 */
#ifndef T
#define T float
#define CT float
#define SUFFIX f32
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

__kernel void KN(softmax_label_grad)(__global T *grad, const long grad_off,
                                     __global const T *prob, const long prob_off,
                                     __global const T *label, const long label_off,
                                     const long rows, const long nclass, const long inner,
                                     const CT scale, const CT alpha, const int use_ignore,
                                     const long ignore, __global const T *norm,
                                     const long norm_off, const int norm_mode)
{
    const long id = get_global_id(0);
    if (id >= rows * inner)
        return;
    const long r = id / inner;
    const long c = id - r * inner;
    const long k = (long)label[label_off + id];
    const long base = r * nclass * inner + c;
    CT s = scale;
    if (norm_mode == 1)
        s *= (CT)norm[norm_off];
    else if (norm_mode == 2)
        s /= max((CT)norm[norm_off], (CT)1);
    if (use_ignore && k == ignore) {
        for (long j = 0; j < nclass; ++j)
            grad[grad_off + base + j * inner] = (T)0;
        return;
    }
    const CT off = nclass > 1 ? alpha / (CT)(nclass - 1) : (CT)0;
    for (long j = 0; j < nclass; ++j) {
        const CT target = j == k ? (CT)1 - alpha : off;
        const CT p = (CT)prob[prob_off + base + j * inner];
        grad[grad_off + base + j * inner] = (T)((p - target) * s);
    }
}
