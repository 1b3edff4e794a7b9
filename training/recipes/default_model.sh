#!/usr/bin/env bash
# The default segue model: a conditioned Performance RNN (2 x 256 LSTM) trained on the public-domain music21
# corpus, sized for 2 CPU cores (one training thread) and far faster than real time at inference.
#
#   bash training/recipes/default_model.sh            # build the dataset (cached), then train in the background
#   tail -f runs/default/train.log                    # watch it;  segue plot runs/default  for curves
#   segue train --resume runs/default                 # after an interruption: continues exactly
#
# Composers: Bach plus the music21 composers that parse in reasonable time (keyboard, chamber and vocal works).
# Left out only for build time on a shared 2-core machine (music21 needs minutes per large score): most Beethoven
# quartets, Palestrina (1318 .krn masses) and the folk-tune collections. With time to spare use music21:all.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${DATA:-data/default}
RUN=${RUN:-runs/default}
M21=$(python -c "import music21.corpus, os; print(os.path.dirname(music21.corpus.__file__))")

segue data build \
  music21:bach music21:mozart music21:haydn music21:chopin music21:joplin \
  music21:schumann_robert music21:schumann_clara music21:handel music21:corelli music21:cpebach \
  music21:schubert music21:weber music21:beach music21:josquin music21:monteverdi \
  "$M21/beethoven/opus18no1/*.mxl" "$M21/beethoven/opus59no1/*.mxl" "$M21/beethoven/opus133.mxl" \
  -o "$DATA" --workers 2

mkdir -p "$RUN"
# One process, one thread: the other agents on this 2-core machine keep a core.
# Stages 64 -> 128 -> 256 events; cyclical LR (triangular2) stepped per batch; early stopping on eval loss;
# transposition into all 12 keys (train split only) so the model follows any key; time stretch 0.95..1.05.
nohup segue train --data "$DATA" --out "$RUN" --no-progress \
  --set model.kind=performance_rnn --set model.hidden_size=256 --set model.num_layers=2 \
  --set model.dropout=0.2 --set model.conditioned=true \
  --set data.all_keys=true \
  --set train.seed=1234 --set train.threads=1 \
  --set 'train.stages=[{seq_len: 64, batch_size: 32, max_steps: 1000}, {seq_len: 128, batch_size: 32, max_steps: 2000}, {seq_len: 256, batch_size: 16, max_steps: null}]' \
  --set train.schedule=cyclical --set train.clr_mode=triangular2 \
  --set train.lr=0.002 --set train.min_lr=0.0002 --set train.clr_step_size=500 \
  --set train.max_steps=20000 --set train.eval_every=250 --set train.eval_seq_len=256 \
  --set train.eval_max_windows=128 --set train.patience=6 --set train.min_delta=0.002 \
  --set train.checkpoint_minutes=3 --set train.log_every=50 \
  > "$RUN/train.log" 2>&1 &
echo "training in the background (pid $!): tail -f $RUN/train.log; best weights: $RUN/best.pt"
