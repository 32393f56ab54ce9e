#!/usr/bin/env python3
"""torch_main.py -- PyTorch's examples/word_language_model main.py (RNN models), reduced to the
flags rnnlm shares, for side-by-side quality and speed comparisons with `rnnlm train`.

The model, batching, training loop, evaluation, lr annealing and log format are main.py's.
Extra flags: --max-batches N (stop each epoch after N batches), --threads N (torch threads),
--metrics FILE (JSON lines like rnnlm's), and, as `rnnlm train` has them, --adaptive-cutoffs
C1,C2,... [--div-value D] [--head-bias]: the decoder becomes nn.AdaptiveLogSoftmaxWithLoss
(AdaptiveRNNModel below; not part of the example) and word ids are ordered by descending
training-set frequency (order_by_frequency). Run with Debian's python3-torch: /usr/bin/python3.
"""
import argparse, json, math, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Dictionary:
    def __init__(self):
        self.word2idx, self.idx2word = {}, []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:  # data.py
    def __init__(self, path):
        self.dictionary = Dictionary()
        self.train = self.tokenize(os.path.join(path, 'train.txt'))
        self.valid = self.tokenize(os.path.join(path, 'valid.txt'))
        self.test = self.tokenize(os.path.join(path, 'test.txt'))

    def tokenize(self, path):
        with open(path, 'r', encoding="utf8") as f:
            for line in f:
                for word in line.split() + ['<eos>']:
                    self.dictionary.add_word(word)
        with open(path, 'r', encoding="utf8") as f:
            idss = []
            for line in f:
                idss.append(torch.tensor([self.dictionary.word2idx[w] for w in line.split() + ['<eos>']],
                                         dtype=torch.int64))
        return torch.cat(idss)


class RNNModel(nn.Module):  # model.py
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ['LSTM', 'GRU']:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError('When using the tied flag, nhid must be equal to emsize')
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == 'LSTM':
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


class AdaptiveRNNModel(nn.Module):
    """model.py's RNNModel with nn.AdaptiveLogSoftmaxWithLoss as its decoder, after the output
    dropout (not part of the example; librnn's RNN_OUTPUT_ADAPTIVE, `rnnlm train
    --adaptive-cutoffs`). forward() returns the dropped-out hidden outputs, (steps*batch, nhid);
    loss(output, targets) is the module's mean NLL (.loss), log_prob(output) its log_prob().
    The decoder keeps PyTorch's own initialisation (the module cannot be tied)."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout, cutoffs, div_value=4.0,
                 head_bias=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ['LSTM', 'GRU']:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.AdaptiveLogSoftmaxWithLoss(nhid, ntoken, list(cutoffs), div_value=div_value,
                                                     head_bias=head_bias)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)  # RNNModel.init_weights, encoder part
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        return output.view(-1, self.nhid), hidden

    def loss(self, output, targets):
        return self.decoder(output, targets).loss

    def log_prob(self, output):
        return self.decoder.log_prob(output)

    init_hidden = RNNModel.init_hidden


def order_by_frequency(corpus):
    """Renumbers corpus's word ids by descending frequency in corpus.train, ties by first
    appearance (data.py's id: train, then valid, then test), as adaptive softmax needs and `rnnlm
    train --adaptive-cutoffs` and bench/bench.c do; remaps train/valid/test and the dictionary."""
    n = len(corpus.dictionary)
    count = torch.bincount(corpus.train, minlength=n).tolist()
    order = sorted(range(n), key=lambda i: (-count[i], i))
    newid = torch.empty(n, dtype=torch.int64)
    newid[torch.tensor(order, dtype=torch.int64)] = torch.arange(n, dtype=torch.int64)
    corpus.train, corpus.valid, corpus.test = newid[corpus.train], newid[corpus.valid], newid[corpus.test]
    d = corpus.dictionary
    d.idx2word = [d.idx2word[i] for i in order]
    d.word2idx = {w: i for i, w in enumerate(d.idx2word)}
    return corpus


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--data', default='./data/wikitext-2')
    p.add_argument('--model', default='LSTM')
    p.add_argument('--emsize', type=int, default=200)
    p.add_argument('--nhid', type=int, default=200)
    p.add_argument('--nlayers', type=int, default=2)
    p.add_argument('--lr', type=float, default=20)
    p.add_argument('--clip', type=float, default=0.25)
    p.add_argument('--epochs', type=int, default=40)
    p.add_argument('--batch_size', type=int, default=20)
    p.add_argument('--bptt', type=int, default=35)
    p.add_argument('--dropout', type=float, default=0.2)
    p.add_argument('--tied', action='store_true')
    p.add_argument('--seed', type=int, default=1111)
    p.add_argument('--log-interval', type=int, default=200)
    p.add_argument('--save', default='model.pt')
    p.add_argument('--dry-run', action='store_true')
    p.add_argument('--max-batches', type=int, default=0)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--metrics', default='')
    p.add_argument('--adaptive-cutoffs', default='')
    p.add_argument('--div-value', type=float, default=4.0)
    p.add_argument('--head-bias', action='store_true')
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    corpus = Corpus(args.data)
    if args.adaptive_cutoffs:
        order_by_frequency(corpus)
    eval_batch_size = 10
    train_data = batchify(corpus.train, args.batch_size)
    val_data = batchify(corpus.valid, eval_batch_size)
    test_data = batchify(corpus.test, eval_batch_size)
    ntokens = len(corpus.dictionary)
    if args.adaptive_cutoffs:
        cutoffs = [int(c) for c in args.adaptive_cutoffs.split(',')]
        model = AdaptiveRNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, cutoffs,
                                 args.div_value, args.head_bias)
        criterion = model.loss
    else:
        model = RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied)
        criterion = nn.NLLLoss()
    metrics = open(args.metrics, 'w') if args.metrics else None

    def get_batch(source, i):
        seq_len = min(args.bptt, len(source) - 1 - i)
        return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)

    def evaluate(data_source):
        model.eval()
        total_loss = 0.
        hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, args.bptt):
                data, targets = get_batch(data_source, i)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    def train(epoch, lr):
        model.train()
        total_loss = 0.
        start_time = time.time()
        hidden = model.init_hidden(args.batch_size)
        nb = len(range(0, train_data.size(0) - 1, args.bptt))
        for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
            data, targets = get_batch(train_data, i)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            for q in model.parameters():
                q.data.add_(q.grad, alpha=-lr)
            total_loss += loss.item()
            if batch % args.log_interval == 0 and batch > 0:
                cur_loss = total_loss / args.log_interval
                elapsed = time.time() - start_time
                print('| epoch {:3d} | {:5d}/{:5d} batches | lr {:02.2f} | ms/batch {:5.2f} | '
                      'loss {:5.2f} | ppl {:8.2f}'.format(epoch, batch, nb, lr,
                                                         elapsed * 1000 / args.log_interval, cur_loss,
                                                         math.exp(cur_loss)), flush=True)
                if metrics:
                    metrics.write(json.dumps({"epoch": epoch, "batch": batch, "loss": cur_loss,
                                              "ppl": math.exp(cur_loss), "lr": lr,
                                              "ms_per_batch": elapsed * 1000 / args.log_interval}) + "\n")
                total_loss = 0
                start_time = time.time()
            if args.dry_run or (args.max_batches and batch + 1 >= args.max_batches):
                break

    lr = args.lr
    best_val_loss = None
    for epoch in range(1, args.epochs + 1):
        epoch_start_time = time.time()
        train(epoch, lr)
        val_loss = evaluate(val_data)
        print('-' * 89)
        print('| end of epoch {:3d} | time: {:5.2f}s | valid loss {:5.2f} | '
              'valid ppl {:8.2f}'.format(epoch, (time.time() - epoch_start_time), val_loss, math.exp(val_loss)))
        print('-' * 89, flush=True)
        if metrics:
            metrics.write(json.dumps({"epoch": epoch, "valid_loss": val_loss, "valid_ppl": math.exp(val_loss),
                                      "lr": lr, "seconds": time.time() - epoch_start_time}) + "\n")
        if not best_val_loss or val_loss < best_val_loss:
            with open(args.save, 'wb') as f:
                torch.save(model, f)
            best_val_loss = val_loss
        else:
            lr /= 4.0
    with open(args.save, 'rb') as f:
        model_best = torch.load(f)
    model.load_state_dict(model_best.state_dict())
    test_loss = evaluate(test_data)
    print('=' * 89)
    print('| End of training | test loss {:5.2f} | test ppl {:8.2f}'.format(test_loss, math.exp(test_loss)))
    print('=' * 89)
    if metrics:
        metrics.write(json.dumps({"test_loss": test_loss, "test_ppl": math.exp(test_loss)}) + "\n")


if __name__ == '__main__':
    main()
