/* Internal header of the JPEG round trip (jpegsim.c: the rules, the scalar build; jpegsim_simd.c: AVX2). */
#ifndef AUGCLI_KERNELS_JPEGSIM_H
#define AUGCLI_KERNELS_JPEGSIM_H

#include "pixel.h"

/* the islow DCTs' fixed point: 13-bit constants, 2 extra bits kept between the passes */
#define JPEG_CB 13
#define JPEG_P1 2
/* round(x 2^13) of the LL&M rotation constants */
#define JPEG_F0298 2446
#define JPEG_F0390 3196
#define JPEG_F0541 4433
#define JPEG_F0765 6270
#define JPEG_F0899 7373
#define JPEG_F1175 9633
#define JPEG_F1501 12299
#define JPEG_F1847 15137
#define JPEG_F1961 16069
#define JPEG_F2053 16819
#define JPEG_F2562 20995
#define JPEG_F3072 25172
/* the largest first-pass value of the inverse DCT that any sum of two of them keeps in 16 bits
 * (libjpeg-turbo's SIMD builds add them in 16-bit lanes) */
#define JPEG_WS_MAX 16383

/* One quantisation table in natural order: the step q, and the divisor 8 q as half, multiply, shift
 * (jpegsim.c quant_table). */
typedef struct {
    int32_t q[64], half[64], mul[64], shift[64];
    /* the same in 16 bits for the AVX2 build, whose second step shifts by multiplying: scale =
     * 2^(32 - shift), n / 8q = ((n mul) >> 16) scale >> 16 */
    int16_t q16[64], half16[64];
    uint16_t mul16[64], scale16[64];
} jpeg_table;

/* AVX2 builds of whole steps (jpegsim_simd.c), the same bytes as the scalar build: an RGB
 * macroblock from the rows its luma and its chroma read (16 pointers each, at the macroblock's first
 * column; JPEG_READ8(bpp) bytes are read from each run of 8 pixels), its luma blocks k with bit k of
 * ymask set (bits 0 and 2 at least for bits 1 and 3) and its two chroma blocks decoded into the
 * planes at y, cb, cr; two greyscale blocks side by side from their 8 rows of 16 pixels (bpp 1 or
 * 2), decoded to a and b (b == a + 8 for adjacent blocks); the vertical chroma sums and the start of
 * an output row (see jpegsim_simd.c). */
#define JPEG_READ8(bpp) ((bpp) == 3 ? 28 : 8 * (bpp))
int augcli_jpeg_mcu_avx2(const uint8_t *const *yrows, const uint8_t *const *crows, int bpp, const jpeg_table *tab,
                         int ymask, uint8_t *y, ptrdiff_t ys, uint8_t *cb, uint8_t *cr, ptrdiff_t cs);
int augcli_jpeg_grey_avx2(const uint8_t *const *rows, int bpp, const jpeg_table *t, uint8_t *a, uint8_t *b,
                          ptrdiff_t ostride);
int augcli_jpeg_sums_avx2(const uint8_t *near, const uint8_t *far, int32_t *sum, int n);
int augcli_jpeg_row_avx2(const uint8_t *yr, const int32_t *sb, const int32_t *sr, const uint8_t *s, uint8_t *d, int w,
                         int bpp);

#endif
