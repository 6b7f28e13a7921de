# Sourced by the benchmarks: OpenBLAS picks its kernels as it loads and falls back to old ones on
# processors newer than it knows (3 times slower on this machine's Xeon). duet restarts itself
# with better ones (`duet --version` names them); every process of a benchmark, duet's peers
# included (numpy and PyTorch load the same OpenBLAS), runs those same kernels, so that the
# comparison is of the programs, not of their BLAS kernels. A value the caller set wins.
# The PyTorch peers (bench/*_torch.py) also run OpenBLAS on one thread of its own: PyTorch's
# --threads are OpenMP threads, and OpenBLAS's pool beside them oversubscribed the cores (on 2
# threads the VAE trained at 7,567 images/s against 20,534, the GPT at 4,444 tokens/s against
# 11,727), while on 1 thread OpenBLAS would otherwise still run 2.
core=$("${duet:-./duet}" --version 2>/dev/null | sed -n 's/.*BLAS kernels: \([A-Za-z0-9]*\).*/\1/p')
if [ -z "$OPENBLAS_CORETYPE" ] && [ -n "$core" ] && [ "$core" != none ]; then
    export OPENBLAS_CORETYPE=$core
fi
echo "BLAS kernels: ${OPENBLAS_CORETYPE:-as OpenBLAS picks them}"
