"""A sequence tagger: embedding, bidirectional LSTM, per-token classifier (team-written sample)."""
import torch
import torch.nn as nn


class LSTMTagger(nn.Module):
    def __init__(self, vocab_size=100, embed_dim=16, hidden=32, num_tags=7):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, num_tags)

    def forward(self, tokens):
        emb = self.embed(tokens)           # (batch, seq, embed)
        out, (h_n, c_n) = self.lstm(emb)   # (batch, seq, 2 * hidden)
        scores = self.proj(out)
        return scores.permute(0, 2, 1)     # (batch, tags, seq)


if __name__ == "__main__":
    tagger = LSTMTagger()
    tagger.eval()
    tokens = torch.randint(1, 100, (3, 12))
    print("tag scores", tagger(tokens).shape)
