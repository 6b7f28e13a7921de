#!/bin/sh
# Image generative models against PyTorch (Debian python3-torch) on the CPU: the VAE of
# PyTorch's examples (784-400-20 MLP, Bernoulli pixels, Adam 1e-3, batch 128) trained on
# Fashion-MNIST for EPOCHS epochs by duet and by bench/vae_torch.py at the same thread count;
# training images/s (ratio duet/PyTorch, > 1: duet is faster) and the test ELBO of each (nats
# per image, one posterior sample; the two should agree within about 1 %), for the MLP VAE and
# the convolutional one (--arch conv, CONV_EPOCHS epochs). Then the conditional GAN against
# bench/gan_torch.py and the conditional diffusion U-Net against bench/unet_torch.py (the same
# networks, losses and optimizers), images/s.
# Never gates anything. Needs ../shared/data/fashion_mnist (or DUET_SHARED_DATA) and python3-torch.
set -e
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5}
CONV_EPOCHS=${CONV_EPOCHS:-1}
SHARED=${DUET_SHARED_DATA:-../shared/data}
duet=$PWD/duet
. bench/blas_env.sh
py=/usr/bin/python3
out=build/bench
mkdir -p $out
fm=$SHARED/fashion_mnist
[ -f $fm/train-images-idx3-ubyte.gz ] || { echo "images: $fm missing, skipped"; exit 0; }
$py -c 'import torch' 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >/dev/null
tr="$fm/train-images-idx3-ubyte.gz --labels $fm/train-labels-idx1-ubyte.gz"
te="$fm/t10k-images-idx3-ubyte.gz --labels $fm/t10k-labels-idx1-ubyte.gz"
vae() { # ARCH EPOCHS
    echo "== VAE ($1) on Fashion-MNIST, $2 epochs"
    printf "%-8s %12s %12s %8s %12s %12s %8s\n" threads duet_img/s torch_img/s ratio duet_elbo torch_elbo diff
    flag=""; [ "$1" = conv ] && flag=--conv
    for th in 1 $(nproc); do
        $duet train $tr --model vae --arch $1 --epochs $2 --threads $th -o $out/vae.duet --quiet >/dev/null
        di=$($duet info $out/vae.duet | sed -n 's/^ *images_per_second *\([0-9]*\).*/\1/p')
        de=$($duet score $out/vae.duet $te --format json | sed -n 's/.*"elbo":\([-0-9.e]*\).*/\1/p')
        tl=$($py bench/vae_torch.py $fm/train-images-idx3-ubyte.gz $fm/train-labels-idx1-ubyte.gz \
            $fm/t10k-images-idx3-ubyte.gz --epochs $2 --threads $th $flag)
        ti=$(echo "$tl" | sed -n 's/.*images\/s \([0-9]*\).*/\1/p')
        tel=$(echo "$tl" | sed -n 's/.*test_elbo \([-0-9.]*\).*/\1/p')
        printf "%-8s %12s %12s %8s %12s %12s %8s\n" $th $di $ti "$(awk -v a=$di -v b=$ti 'BEGIN {printf "%.2fx", a/b}')" \
            $de $tel "$(awk -v a=$de -v b=$tel 'BEGIN {printf "%.2f%%", 100 * (a - b) / (b < 0 ? -b : b)}')"
    done
}
vae mlp $EPOCHS
vae conv $CONV_EPOCHS

echo "== conditional DCGAN-style GAN on 6400 Fashion-MNIST images, 1 epoch (bench/gan_torch.py: the same networks)"
printf "%-8s %12s %12s %8s\n" threads duet_img/s torch_img/s ratio
for th in 1 $(nproc); do
    $duet train $tr --model gan --conditional --epochs 1 --limit 6400 --threads $th -o $out/gan.duet --quiet >/dev/null
    di=$($duet info $out/gan.duet | sed -n 's/^ *images_per_second *\([0-9]*\)/\1/p')
    ti=$($py bench/gan_torch.py $fm/train-images-idx3-ubyte.gz $fm/train-labels-idx1-ubyte.gz --limit 6400 --threads $th |
        sed -n 's/.*images\/s \([0-9]*\).*/\1/p')
    printf "%-8s %12s %12s %8s\n" $th $di $ti "$(awk -v a=$di -v b=$ti 'BEGIN {printf "%.2fx", a/b}')"
done

echo "== conditional diffusion U-Net (width 32) on 1280 Fashion-MNIST images, 1 epoch (bench/unet_torch.py: the same network)"
printf "%-8s %12s %12s %8s\n" threads duet_img/s torch_img/s ratio
for th in 1 $(nproc); do
    $duet train $tr --model diffusion --conditional --epochs 1 --limit 1280 --threads $th -o $out/df.duet --quiet >/dev/null
    di=$($duet info $out/df.duet | sed -n 's/^ *images_per_second *\([0-9.]*\).*/\1/p')
    ti=$($py bench/unet_torch.py $fm/train-images-idx3-ubyte.gz $fm/train-labels-idx1-ubyte.gz --limit 1280 --threads $th \
        --conditional 2>/dev/null | sed -n 's/.*images\/s \([0-9.]*\).*/\1/p')
    printf "%-8s %12s %12s %8s\n" $th $di $ti "$(awk -v a=$di -v b=$ti 'BEGIN {printf "%.2fx", a/b}')"
done
