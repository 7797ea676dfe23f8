import os
import sys

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")  # see README: MindSpore CPU convolutions
os.environ.setdefault("GLOG_v", "3")  # MindSpore: errors only
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
