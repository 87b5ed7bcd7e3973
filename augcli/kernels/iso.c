/* ISO noise: luminance-dependent colour noise from a counter-based generator (one hash a pixel). */
#include "pixel.h"

#include "normal_table.h"

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
