/* Internal header of the JPEG round trip (jpegsim.c; the AVX2 block stage in jpegsim_simd.c). */
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
} jpeg_table;

/* The block stage: blk holds 64 samples 0..255 (row-major, overwritten); the decoded 8 x 8 bytes go
 * to out, rows ostride apart. Non-zero when a value left the range where libjpeg-turbo's builds
 * agree. The AVX2 build (x86 only) gives the same bytes. */
int augcli_jpeg_block_scalar(int32_t *blk, const jpeg_table *t, uint8_t *out, ptrdiff_t ostride);
int augcli_jpeg_block_avx2(int32_t *blk, const jpeg_table *t, uint8_t *out, ptrdiff_t ostride);
/* AVX2 builds of whole steps (jpegsim_simd.c): an RGB macroblock from the rows its luma and its
 * chroma read (16 pointers each, at the macroblock's first column; JPEG_READ8(bpp) bytes are read
 * from each run of 8 pixels), its luma blocks k with bit k of ymask set and its two chroma blocks
 * decoded into the planes at y, cb, cr; a greyscale block from its 8 rows (bpp 1 or 2); the
 * vertical chroma sums and the start of an output row (see jpegsim_simd.c). */
#define JPEG_READ8(bpp) ((bpp) == 3 ? 28 : 8 * (bpp))
int augcli_jpeg_mcu_avx2(const uint8_t *const *yrows, const uint8_t *const *crows, int bpp, const jpeg_table *tab,
                         int ymask, uint8_t *y, ptrdiff_t ys, uint8_t *cb, uint8_t *cr, ptrdiff_t cs);
int augcli_jpeg_grey_avx2(const uint8_t *const *rows, int bpp, const jpeg_table *t, uint8_t *out, ptrdiff_t ostride);
int augcli_jpeg_sums_avx2(const uint8_t *near, const uint8_t *far, int32_t *sum, int n);
int augcli_jpeg_row_avx2(const uint8_t *yr, const int32_t *sb, const int32_t *sr, const uint8_t *s, uint8_t *d, int w,
                         int bpp);

#endif
