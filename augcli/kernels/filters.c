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

#include "normal_table.h"

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

/* ---------------------------------------------------------------------------------------------- */
/* Window filters (median, sparse integer taps): a window of k x k pixels about each pixel, edges
 * replicated (scipy.ndimage mode "nearest"). The source rows the window needs are kept padded by r
 * replicated pixels on each side in a ring of min(k, h) rows (row y in slot y % ring), so no padded
 * copy of the image is made. Every byte of a pixel is filtered; the non-colour bytes are copied
 * from the source afterwards. */

typedef struct {
    const uint8_t *src;
    int w, h, bpp, r, ring;
    uint8_t *pad;          /* ring of padded rows, (w + 2r) bpp bytes each */
    const uint8_t **rows;  /* rows[i]: the padded source row y - r + i (clamped) of the current output row */
    int done;              /* source rows 0 .. done - 1 are in the ring */
} window_rows;

static int window_init(window_rows *wr, const uint8_t *src, int w, int h, int bpp, int r)
{
    wr->src = src;
    wr->w = w;
    wr->h = h;
    wr->bpp = bpp;
    wr->r = r;
    wr->ring = 2 * (int64_t)r + 1 < h ? 2 * r + 1 : h;
    wr->done = 0;
    wr->pad = PyMem_RawMalloc(((size_t)w + 2 * (size_t)r) * bpp * (size_t)wr->ring);
    wr->rows = PyMem_RawMalloc((2 * (size_t)r + 1) * sizeof(uint8_t *));
    return wr->pad && wr->rows ? 0 : -1;
}

static void window_free(window_rows *wr)
{
    PyMem_RawFree(wr->pad);
    PyMem_RawFree((void *)wr->rows);
}

/* Point rows[0 .. 2r] at the padded source rows y - r .. y + r (clamped), padding new ones. */
static void window_advance(window_rows *wr, int y)
{
    const int w = wr->w, h = wr->h, bpp = wr->bpp, r = wr->r;
    const size_t n = (size_t)w * bpp, padded = ((size_t)w + 2 * (size_t)r) * bpp;
    const int last = (int64_t)y + r >= h ? h - 1 : y + r;
    for (; wr->done <= last; wr->done++) {
        uint8_t *pad = wr->pad + (size_t)(wr->done % wr->ring) * padded;
        const uint8_t *row = wr->src + (size_t)wr->done * n;
        memcpy(pad + (size_t)r * bpp, row, n);
        for (int k = 0; k < r; k++) {
            memcpy(pad + (size_t)k * bpp, row, (size_t)bpp);
            memcpy(pad + (size_t)(r + w + k) * bpp, row + (size_t)(w - 1) * bpp, (size_t)bpp);
        }
    }
    for (int k = 0; k <= 2 * r; k++) {
        const int64_t yy = (int64_t)y - r + k;
        const int row = yy < 0 ? 0 : (yy >= h ? h - 1 : (int)yy);
        wr->rows[k] = wr->pad + (size_t)(row % wr->ring) * padded;
    }
}

/* median: a comparator network (pairs of slots, min to the first) run on every byte of a block of
 * the row at once; the k^2 slots hold the window's values, slot i k + j the one at offset
 * (j - r, i - r). The network (augcli.kernels.median_network) leaves the median in one slot. */
#define MEDIAN_BLOCK 1024 /* bytes of a row per pass: k^2 slots of them stay in the L1/L2 cache */
#define MEDIAN_MAX_K 15

AUGCLI_INLINE void network_body(uint8_t *slots, size_t stride, size_t n, const uint16_t *net, int ncmp)
{
    for (int c = 0; c < ncmp; c++) {
        uint8_t *restrict a = slots + net[2 * c] * stride;
        uint8_t *restrict b = slots + net[2 * c + 1] * stride;
        for (size_t j = 0; j < n; j++) {
            const uint8_t x = a[j], y = b[j];
            a[j] = x < y ? x : y;
            b[j] = x < y ? y : x;
        }
    }
}
AUGCLI_DISPATCH(network, (uint8_t *slots, size_t stride, size_t n, const uint16_t *net, int ncmp),
                (slots, stride, n, net, ncmp))

static void run_median(window_rows *wr, uint8_t *dst, int k, const uint16_t *net, int ncmp, int out_slot,
                       uint8_t *slots, int path)
{
    const network_fn network = network_for(path);
    const int bpp = wr->bpp;
    const size_t n = (size_t)wr->w * bpp;
    for (int y = 0; y < wr->h; y++) {
        window_advance(wr, y);
        for (size_t j0 = 0; j0 < n; j0 += MEDIAN_BLOCK) {
            const size_t len = n - j0 < MEDIAN_BLOCK ? n - j0 : MEDIAN_BLOCK;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    memcpy(slots + (size_t)(i * k + j) * MEDIAN_BLOCK, wr->rows[i] + j0 + (size_t)j * bpp, len);
            network(slots, MEDIAN_BLOCK, len, net, ncmp);
            memcpy(dst + (size_t)y * n + j0, slots + (size_t)out_slot * MEDIAN_BLOCK, len);
        }
    }
}

PyObject *augcli_py_median(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer net;
    int k, out_slot;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiiy*i", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &k, &net, &out_slot))
        return NULL;
    if (augcli_check_pair("median", &p, 0)) {
        PyBuffer_Release(&net);
        return NULL;
    }
    const int slots_n = k * k;
    int bad = k < 1 || k > MEDIAN_MAX_K || k % 2 == 0 || net.len % 4 != 0 || out_slot < 0 || out_slot >= slots_n;
    const int ncmp = bad ? 0 : (int)(net.len / 4);
    uint16_t *pairs = bad ? NULL : PyMem_RawMalloc((size_t)ncmp * 4 + 4);
    if (!bad && pairs) {
        memcpy(pairs, net.buf, (size_t)net.len); /* native-endian uint16 pairs */
        for (int c = 0; c < ncmp && !bad; c++)
            bad = pairs[2 * c] >= slots_n || pairs[2 * c + 1] >= slots_n || pairs[2 * c] == pairs[2 * c + 1];
    }
    PyBuffer_Release(&net);
    if (bad) {
        PyMem_RawFree(pairs);
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "median: k must be odd, 1 to 15, and the network pairs of distinct slots < k^2");
        return NULL;
    }
    window_rows wr;
    memset(&wr, 0, sizeof wr);
    uint8_t *slots = PyMem_RawMalloc((size_t)slots_n * MEDIAN_BLOCK);
    if (!pairs || !slots || window_init(&wr, p.src.buf, p.w, p.h, p.bpp, k / 2)) {
        PyErr_NoMemory();
    } else {
        const int path = augcli_pixel_path;
        Py_BEGIN_ALLOW_THREADS
        run_median(&wr, p.dst.buf, k, pairs, ncmp, out_slot, slots, path);
        augcli_copy_extra(p.src.buf, p.dst.buf, p.npx, p.bpp, p.nc);
        Py_END_ALLOW_THREADS
    }
    window_free(&wr);
    PyMem_RawFree(slots);
    PyMem_RawFree(pairs);
    augcli_release_pair(&p);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* sparse taps (motion blur): out = (sum t p + 2^15) >> 16 over taps (dx, dy, t) with |dx|, |dy| <= r,
 * t > 0 and sum t == 2^16 exactly, so every sum stays below 255 2^16 < 2^32. */
#define TAPS_MAX_R 256

AUGCLI_INLINE void taps_row_body(const uint8_t *const *rows, uint8_t *restrict out, uint32_t *restrict acc, size_t n,
                                 int bpp, int r, const int32_t *taps, int ntaps)
{
    for (size_t j = 0; j < n; j++)
        acc[j] = 1u << 15;
    for (int t = 0; t < ntaps; t++) {
        const uint8_t *restrict p = rows[taps[3 * t + 1] + r] + (size_t)(taps[3 * t] + r) * bpp;
        const uint32_t wt = (uint32_t)taps[3 * t + 2];
        for (size_t j = 0; j < n; j++)
            acc[j] += wt * p[j];
    }
    for (size_t j = 0; j < n; j++)
        out[j] = (uint8_t)(acc[j] >> 16);
}
AUGCLI_DISPATCH(taps_row, (const uint8_t *const *rows, uint8_t *out, uint32_t *acc, size_t n, int bpp, int r,
                           const int32_t *taps, int ntaps),
                (rows, out, acc, n, bpp, r, taps, ntaps))

PyObject *augcli_py_taps(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer tb;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiy*", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &tb))
        return NULL;
    if (augcli_check_pair("taps", &p, 0)) {
        PyBuffer_Release(&tb);
        return NULL;
    }
    const Py_ssize_t ntaps = tb.len / 12;
    int bad = tb.len % 12 != 0 || ntaps < 1 || ntaps > (2 * TAPS_MAX_R + 1) * (2 * TAPS_MAX_R + 1);
    int32_t *taps = bad ? NULL : PyMem_RawMalloc((size_t)tb.len);
    int r = 0;
    if (!bad && taps) {
        int64_t sum = 0;
        memcpy(taps, tb.buf, (size_t)tb.len); /* native-endian int32 triples */
        for (Py_ssize_t t = 0; t < ntaps && !bad; t++) {
            const int32_t dx = taps[3 * t], dy = taps[3 * t + 1], wt = taps[3 * t + 2];
            bad = dx < -TAPS_MAX_R || dx > TAPS_MAX_R || dy < -TAPS_MAX_R || dy > TAPS_MAX_R || wt <= 0 || wt > 65536;
            const int a = dx < 0 ? -dx : dx, b = dy < 0 ? -dy : dy;
            r = a > r ? a : r;
            r = b > r ? b : r;
            sum += wt;
        }
        bad = bad || sum != 65536;
    }
    PyBuffer_Release(&tb);
    if (bad) {
        PyMem_RawFree(taps);
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "taps: (dx, dy, t) int32 triples, |dx|, |dy| <= 256, t > 0, sum t == 65536");
        return NULL;
    }
    window_rows wr;
    memset(&wr, 0, sizeof wr);
    const size_t n = (size_t)p.w * p.bpp;
    uint32_t *acc = PyMem_RawMalloc(n * sizeof(uint32_t));
    if (!taps || !acc || window_init(&wr, p.src.buf, p.w, p.h, p.bpp, r)) {
        PyErr_NoMemory();
    } else {
        const int path = augcli_pixel_path;
        const taps_row_fn row = taps_row_for(path);
        uint8_t *dst = p.dst.buf;
        Py_BEGIN_ALLOW_THREADS
        for (int y = 0; y < p.h; y++) {
            window_advance(&wr, y);
            row(wr.rows, dst + (size_t)y * n, acc, n, p.bpp, r, taps, (int)ntaps);
        }
        augcli_copy_extra(p.src.buf, p.dst.buf, p.npx, p.bpp, p.nc);
        Py_END_ALLOW_THREADS
    }
    window_free(&wr);
    PyMem_RawFree(acc);
    PyMem_RawFree(taps);
    augcli_release_pair(&p);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* ISO noise: per pixel one hash r = mix64(key + (i + 1) golden) (the noise kernel's generator) and
 * the pixel's luma Y (601 weights 19595, 38470, 7471 / 2^16, rounded; the grey value for L); band c
 * gets round(c + (lum[Y] z0 + chroma[Y] zc) / 2^32), clamped, where z0 (bits 0-11 of r, shared by
 * every band) and zc (bits 12 c + 12 .. 12 c + 23) index the unit normal table (16.16) and lum,
 * chroma are the standard deviations per luma in 16.16, tabulated by augcli.kernels.iso_noise. */
AUGCLI_INLINE void iso_body(const uint8_t *restrict s, uint8_t *restrict d, size_t npx, int bpp, int nc,
                            const int64_t *restrict lum, const int64_t *restrict chroma, uint64_t key)
{
    const int mask = (1 << AUGCLI_NORMAL_BITS) - 1;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *p = s + i * bpp;
        const int y = nc == 3 ? (int)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16) : p[0];
        const uint64_t r = augcli_mix64(key + (i + 1) * AUGCLI_GOLDEN);
        const int64_t base = lum[y] * augcli_normal_table[r & mask] + ((int64_t)1 << 31);
        for (int c = 0; c < nc; c++) {
            const int64_t z = augcli_normal_table[(r >> (12 * c + 12)) & mask];
            d[i * bpp + c] = augcli_u8((int64_t)p[c] + ((base + chroma[y] * z) >> 32));
        }
        for (int c = nc; c < bpp; c++)
            d[i * bpp + c] = p[c];
    }
}
AUGCLI_ONE_PATH(iso, (const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, const int64_t *lum,
                      const int64_t *chroma, uint64_t key),
                (s, d, npx, bpp, nc, lum, chroma, key))

#define ISO_MAX_SIGMA ((int64_t)256 << 16)

PyObject *augcli_py_iso_noise(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer tables;
    unsigned long long key;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiy*K", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &tables, &key))
        return NULL;
    if (augcli_check_pair("iso_noise", &p, 0)) {
        PyBuffer_Release(&tables);
        return NULL;
    }
    int64_t t[512];
    int bad = tables.len != (Py_ssize_t)sizeof t || (p.nc != 1 && p.nc != 3);
    if (!bad) {
        memcpy(t, tables.buf, sizeof t); /* native-endian int64: 256 luminance, then 256 chroma */
        for (int i = 0; i < 512 && !bad; i++)
            bad = t[i] < 0 || t[i] > ISO_MAX_SIGMA;
    }
    PyBuffer_Release(&tables);
    if (bad) {
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "iso_noise: 1 or 3 colour bands and 512 int64 sigmas in [0, 2^24]");
        return NULL;
    }
    const int path = augcli_pixel_path;
    Py_BEGIN_ALLOW_THREADS
    iso_for(path)(p.src.buf, p.dst.buf, p.npx, p.bpp, p.nc, t, t + 256, (uint64_t)key);
    Py_END_ALLOW_THREADS
    augcli_release_pair(&p);
    Py_RETURN_NONE;
}
