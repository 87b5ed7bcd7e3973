/* Separable filters for 8-bit images: the Gaussian blur.
 *
 * scipy.ndimage.gaussian_filter(mode="nearest") semantics: a symmetric kernel of 2r + 1 taps
 * (computed by augcli.kernels from the normalised Gaussian truncated at 4 sigma), edges replicated.
 * Integer arithmetic, the same on every path:
 * - taps t[0] (centre) .. t[r], unsigned, t[0] + 2 (t[1] + ... + t[r]) == 2^16 exactly;
 * - horizontal pass per row, on every byte of the pixel (the row padded by r replicated pixels on
 *   each side): q = (sum t[|i|] p[x + i] + 2^7) >> 8, the row blurred in units of 2^-8 (uint16);
 * - vertical pass per column of q, rows clamped to the image: out = (sum t[|i|] q[y + i] + 2^23) >> 24.
 * Every sum is at most 65280 * 2^16 < 2^32, so uint32 never overflows. Non-colour bytes (alpha)
 * are copied from the source afterwards. Scratch, allocated once per call: the padded row, one
 * accumulator row, a ring of min(2r + 1, h) horizontally blurred rows (2 bytes per sample; the
 * rows stream through it, so it stays in cache) and the row pointers.
 */
#include "pixel.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* let the compiler vectorise the integer loops for each target */
#endif

AUGCLI_INLINE void hrow_body(const uint8_t *restrict pad, uint16_t *restrict q, uint32_t *restrict acc, size_t n,
                             int bpp, const uint32_t *restrict t, int r)
{
    const uint8_t *c = pad + (size_t)r * bpp;
    const uint32_t t0 = t[0];
    for (size_t j = 0; j < n; j++)
        acc[j] = t0 * c[j];
    for (int i = 1; i <= r; i++) {
        const uint8_t *a = c - (size_t)i * bpp, *b = c + (size_t)i * bpp;
        const uint32_t ti = t[i];
        for (size_t j = 0; j < n; j++)
            acc[j] += ti * ((uint32_t)a[j] + b[j]);
    }
    for (size_t j = 0; j < n; j++)
        q[j] = (uint16_t)((acc[j] + 128u) >> 8);
}
AUGCLI_DISPATCH(hrow, (const uint8_t *pad, uint16_t *q, uint32_t *acc, size_t n, int bpp, const uint32_t *t, int r),
                (pad, q, acc, n, bpp, t, r))

AUGCLI_INLINE void vrow_body(const uint16_t *const *rows, uint8_t *restrict out, uint32_t *restrict acc, size_t n,
                             const uint32_t *restrict t, int r)
{
    const uint16_t *c = rows[r];
    const uint32_t t0 = t[0];
    for (size_t j = 0; j < n; j++)
        acc[j] = t0 * c[j];
    for (int i = 1; i <= r; i++) {
        const uint16_t *a = rows[r - i], *b = rows[r + i];
        const uint32_t ti = t[i];
        for (size_t j = 0; j < n; j++)
            acc[j] += ti * ((uint32_t)a[j] + b[j]);
    }
    for (size_t j = 0; j < n; j++)
        out[j] = (uint8_t)((acc[j] + (1u << 23)) >> 24);
}
AUGCLI_DISPATCH(vrow, (const uint16_t *const *rows, uint8_t *out, uint32_t *acc, size_t n, const uint32_t *t, int r),
                (rows, out, acc, n, t, r))

#define MAX_TAPS ((1 << 20) + 1)

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    int w, h, bpp, nc, r;
    int ring;           /* rows of the intermediate kept: min(2r + 1, h) */
    const uint32_t *t;
    uint8_t *pad;       /* one source row padded by r replicated pixels on each side */
    uint32_t *acc;      /* one accumulator row */
    uint16_t *inter;    /* ring of horizontally blurred rows: row y lives in slot y % ring */
    const uint16_t **rows;
} blur_job;

static void horizontal_row(const blur_job *j, int y, hrow_fn hrow)
{
    const int w = j->w, bpp = j->bpp, r = j->r;
    const size_t n = (size_t)w * bpp;
    const uint8_t *row = j->src + (size_t)y * n;
    memcpy(j->pad + (size_t)r * bpp, row, n);
    for (int k = 0; k < r; k++) {
        memcpy(j->pad + (size_t)k * bpp, row, (size_t)bpp);
        memcpy(j->pad + (size_t)(r + w + k) * bpp, row + (size_t)(w - 1) * bpp, (size_t)bpp);
    }
    hrow(j->pad, j->inter + (size_t)(y % j->ring) * n, j->acc, n, bpp, j->t, r);
}

/* Rows stream through the ring: output row y needs the blurred source rows y - r .. y + r
 * (clamped), at most `ring` distinct consecutive rows, so the intermediate stays in cache. */
static void run_blur(const blur_job *j, int path)
{
    const int h = j->h, r = j->r;
    const size_t n = (size_t)j->w * j->bpp;
    const hrow_fn hrow = hrow_for(path);
    const vrow_fn vrow = vrow_for(path);
    int done = 0; /* source rows 0 .. done - 1 have been blurred horizontally */
    for (int y = 0; y < h; y++) {
        const int last = (int64_t)y + r >= h ? h - 1 : y + r;
        for (; done <= last; done++)
            horizontal_row(j, done, hrow);
        for (int k = 0; k <= 2 * r; k++) {
            const int64_t yy = (int64_t)y - r + k;
            const int row = yy < 0 ? 0 : (yy >= h ? h - 1 : (int)yy);
            j->rows[k] = j->inter + (size_t)(row % j->ring) * n;
        }
        vrow(j->rows, j->dst + (size_t)y * n, j->acc, n, j->t, r);
    }
    augcli_copy_extra(j->src, j->dst, (size_t)j->w * h, j->bpp, j->nc);
}

PyObject *augcli_py_blur(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer taps;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiy*", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &taps))
        return NULL;
    if (augcli_check_pair("blur", &p, 0)) {
        PyBuffer_Release(&taps);
        return NULL;
    }
    blur_job j;
    memset(&j, 0, sizeof j);
    const Py_ssize_t ntaps = taps.len / 4;
    int bad = taps.len % 4 != 0 || ntaps < 1 || ntaps > MAX_TAPS;
    uint32_t *t = bad ? NULL : PyMem_RawMalloc((size_t)ntaps * sizeof(uint32_t));
    if (!bad && !t) {
        PyBuffer_Release(&taps);
        augcli_release_pair(&p);
        return PyErr_NoMemory();
    }
    if (!bad) {
        uint64_t sum = 0;
        memcpy(t, taps.buf, (size_t)taps.len); /* native-endian uint32 */
        for (Py_ssize_t i = 0; i < ntaps; i++)
            sum += (i ? 2u : 1u) * (uint64_t)t[i];
        bad = sum != 65536;
    }
    PyBuffer_Release(&taps);
    if (bad) {
        PyMem_RawFree(t);
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "blur: the taps must be 1 to 2^20 + 1 uint32 with t0 + 2 (t1 + ...) == 65536");
        return NULL;
    }
    j.r = (int)ntaps - 1;
    j.src = p.src.buf;
    j.dst = p.dst.buf;
    j.w = p.w;
    j.h = p.h;
    j.bpp = p.bpp;
    j.nc = p.nc;
    j.t = t;
    const size_t n = (size_t)p.w * p.bpp;
    j.pad = PyMem_RawMalloc(((size_t)p.w + 2 * (size_t)j.r) * p.bpp);
    j.acc = PyMem_RawMalloc(n * sizeof(uint32_t));
    j.ring = 2 * (int64_t)j.r + 1 < p.h ? 2 * j.r + 1 : p.h;
    j.inter = PyMem_RawMalloc(n * (size_t)j.ring * sizeof(uint16_t));
    j.rows = PyMem_RawMalloc((2 * (size_t)j.r + 1) * sizeof(uint16_t *));
    if (!j.pad || !j.acc || !j.inter || !j.rows) {
        PyErr_NoMemory();
    } else {
        const int path = augcli_pixel_path;
        Py_BEGIN_ALLOW_THREADS
        run_blur(&j, path);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(j.pad);
    PyMem_RawFree(j.acc);
    PyMem_RawFree(j.inter);
    PyMem_RawFree((void *)j.rows);
    PyMem_RawFree(t);
    augcli_release_pair(&p);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}
