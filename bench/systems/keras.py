"""keras-preprocessing 1.1.2 ImageDataGenerator loop, written the way users do.

load_img at the image's own size -> img_to_array -> datagen.random_transform
N times -> array_to_img(...).save(quality=Q), into mirrored class folders.
Keras has no API that parallelises over files (flow_from_directory resizes to
a fixed target_size and yields batches in one process), so the loop is spread
over W spawn worker processes, one file at a time.
(This file is named keras.py; keras_preprocessing.image never imports `keras`.)
"""
from common import (HFLIP_P, JOB, ROTATE_DEG, SHIFT, ZOOM, parse_args,
                    require_plain_job, run_pool, skip, tasks)

try:
    from keras_preprocessing.image import (ImageDataGenerator, array_to_img,
                                           img_to_array, load_img)
    import scipy.ndimage  # noqa: F401  (random_transform needs scipy)
except ImportError as e:
    skip(f"keras-preprocessing/scipy not installed ({e})")

assert HFLIP_P == 0.5  # Keras' horizontal_flip is always p=0.5
DATAGEN = ImageDataGenerator(
    rotation_range=ROTATE_DEG, width_shift_range=SHIFT, height_shift_range=SHIFT,
    zoom_range=ZOOM, horizontal_flip=True, fill_mode="nearest",
    interpolation_order=1)  # 1 = bilinear (the default)
def work(task):
    src, stem = task
    x = img_to_array(load_img(src))          # float32 HxWx3, own size
    for k in range(JOB["copies"]):
        y = DATAGEN.random_transform(x)
        # array_to_img's default scale=True (min/max stretch), as users call it
        array_to_img(y).save(f"{stem}_aug{k}.jpg", quality=JOB["quality"])


if __name__ == "__main__":
    a = parse_args(__doc__)
    require_plain_job(a.job)
    run_pool(work, tasks(a.input, a.output), a.workers, a.copies, a.quality)
