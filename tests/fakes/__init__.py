"""Test doubles of the hardware stacks: a fake torch_npu and fake CANN libraries (built with gcc)."""
