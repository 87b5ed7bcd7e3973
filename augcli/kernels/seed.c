/* numpy's SeedSequence, in C: the PCG64 state that
 *     numpy.random.SeedSequence(entropy, spawn_key=...).generate_state(4, numpy.uint64)
 * gives, from the assembled entropy words (SeedSequence.get_assembled_entropy). The same integers
 * (O'Neill's seed_seq hash as numpy implements it, pool size 4), about a hundred times faster: augcli
 * makes one generator per op per output, and SeedSequence's own set-up cost more than the draws.
 * augcli.seeding assembles the words and tests/test_seeding.py compares with numpy itself. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define POOL 4
#define INIT_A 0x43b0d7e5u
#define MULT_A 0x931e8875u
#define INIT_B 0x8b51f9ddu
#define MULT_B 0x58f38dedu
#define MIX_MULT_L 0xca01f9ddu
#define MIX_MULT_R 0x4973f715u
#define XSHIFT 16

static uint32_t hashmix(uint32_t value, uint32_t *hash)
{
    value ^= *hash;
    *hash *= MULT_A;
    value *= *hash;
    return value ^ (value >> XSHIFT);
}

static uint32_t mix(uint32_t x, uint32_t y)
{
    const uint32_t r = MIX_MULT_L * x - MIX_MULT_R * y;
    return r ^ (r >> XSHIFT);
}

/* seed_state(words) -> 32 bytes: four little-endian uint64, from little-endian uint32 words */
static PyObject *py_seed_state(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (b.len % 4 != 0 || b.len == 0) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "seed_state: the entropy must be a whole number of 32-bit words, at least one");
        return NULL;
    }
    const Py_ssize_t n = b.len / 4;
    const unsigned char *p = b.buf;
    uint32_t pool[POOL], hash = INIT_A;
#define WORD(i) ((uint32_t)p[4 * (i)] | (uint32_t)p[4 * (i) + 1] << 8 | (uint32_t)p[4 * (i) + 2] << 16 | (uint32_t)p[4 * (i) + 3] << 24)
    for (int i = 0; i < POOL; i++)
        pool[i] = hashmix(i < n ? WORD(i) : 0, &hash);
    for (int s = 0; s < POOL; s++)
        for (int d = 0; d < POOL; d++)
            if (s != d)
                pool[d] = mix(pool[d], hashmix(pool[s], &hash));
    for (Py_ssize_t s = POOL; s < n; s++)
        for (int d = 0; d < POOL; d++)
            pool[d] = mix(pool[d], hashmix(WORD(s), &hash));
#undef WORD
    PyBuffer_Release(&b);
    unsigned char out[8 * POOL];
    uint32_t h = INIT_B;
    for (int i = 0; i < 2 * POOL; i++) { /* generate_state(4, uint64): 8 words, pairs low word first */
        uint32_t v = pool[i % POOL] ^ h;
        h *= MULT_B;
        v *= h;
        v ^= v >> XSHIFT;
        for (int k = 0; k < 4; k++)
            out[4 * i + k] = (unsigned char)(v >> (8 * k));
    }
    return PyBytes_FromStringAndSize((const char *)out, sizeof out);
}

static PyMethodDef methods[] = {
    {"seed_state", py_seed_state, METH_O, "seed_state(words) -> numpy's SeedSequence.generate_state(4, uint64) as 32 bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_seed", "numpy's SeedSequence hash, in C", -1, methods};

PyMODINIT_FUNC PyInit__seed(void)
{
    return PyModule_Create(&module);
}
