# Sourced by the benchmarks: OpenBLAS picks its kernels as it loads and falls back to old ones on
# processors newer than it knows (3 times slower on this machine's Xeon). duet restarts itself
# with better ones (`duet --version` names them); every process of a benchmark, duet's peers
# included (numpy and PyTorch load the same OpenBLAS), runs those same kernels, so that the
# comparison is of the programs, not of their BLAS kernels. A value the caller set wins.
core=$("${duet:-./duet}" --version 2>/dev/null | sed -n 's/.*BLAS kernels: \([A-Za-z0-9]*\).*/\1/p')
if [ -z "$OPENBLAS_CORETYPE" ] && [ -n "$core" ] && [ "$core" != none ]; then
    export OPENBLAS_CORETYPE=$core
fi
echo "BLAS kernels: ${OPENBLAS_CORETYPE:-as OpenBLAS picks them}"
