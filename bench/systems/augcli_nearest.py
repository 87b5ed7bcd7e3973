"""augcli with --interpolation nearest (Pillow's fixed-point affine path): not bilinear quality,
measured to show what the resampling costs. Otherwise identical to augcli.py."""
import os
import runpy

os.environ["AUGCLI_BENCH_INTERPOLATION"] = "nearest"
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "augcli.py"), run_name="__main__")
