#!/bin/sh
# The demo: a spam filter trained and evaluated on the SMS Spam Collection shipped in data/.
# Every fifth message is held out for testing; the rest trains logistic regression (C chosen
# by cross-validation) and naive Bayes, side by side; then a small language model writes a story.
set -e
duet=${DUET:-./duet}
dir=build/demo
mkdir -p $dir
awk 'NR % 5 != 0' data/sms_spam/SMSSpamCollection > $dir/train.tsv
awk 'NR % 5 == 0' data/sms_spam/SMSSpamCollection > $dir/test.tsv
echo "== SMS Spam Collection: $(wc -l < $dir/train.tsv) messages to train, $(wc -l < $dir/test.tsv) to test"
echo
echo "== discriminative: logistic regression on TF-IDF word 1-2-grams and character 2-5-grams"
$duet train $dir/train.tsv --model logreg -o $dir/spam-logreg.duet --test $dir/test.tsv
echo
$duet info $dir/spam-logreg.duet --top 10
echo
echo "== generative: multinomial naive Bayes on word counts"
$duet train $dir/train.tsv --model nb -o $dir/spam-nb.duet --test $dir/test.tsv --quiet
echo
echo "== a new message, with the words that decided it"
echo "WINNER!! You have been selected to receive a free prize. Call now to claim" |
    $duet predict $dir/spam-logreg.duet - --proba --explain 5
echo
echo "== three messages drawn from naive Bayes' model of spam (bags of words)"
$duet generate $dir/spam-nb.duet --label spam --count 3 --seed 7
echo
echo "== a language model writes: llama2.c's 260K-parameter stories260K continues a prompt (KV cache)"
$duet generate data/llama2c_tinyllamas/stories260K.bin --tokenizer data/llama2c_tinyllamas/tok512.bin \
    --prompt "Once upon a time, there was a cat" -n 60 --temperature 0.8 --top-p 0.9 --seed 3
