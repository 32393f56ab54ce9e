# tests/lib/corpus.sh -- small generated corpora for the shell tests (sourced; not a test itself).
#   toy_corpus DIR SEED NTRAIN NOTHER DIR/train.txt (NTRAIN lines), valid.txt and test.txt (NOTHER
#                                     lines each): 3-8 random words a line over 15 words
#   grammar_corpus FILE SEED LINES    LINES "det adj noun verb det noun [today]" sentences
toy_corpus() {
    mkdir -p "$1"
    awk -v dir="$1" -v seed="$2" -v ntrain="$3" -v nother="$4" 'BEGIN {
        srand(seed); nw = split("the cat dog sat on mat a ran fast slow big small red blue green", w, " ")
        for (f = 0; f < 3; f++) {
            file = dir "/" (f == 0 ? "train.txt" : f == 1 ? "valid.txt" : "test.txt")
            n = f == 0 ? ntrain : nother
            for (i = 0; i < n; i++) {
                k = 3 + int(rand() * 6); l = ""
                for (j = 0; j < k; j++) l = l (j ? " " : "") w[1 + int(rand() * nw)]
                print l > file
            }
        }
    }'
}
grammar_corpus() {
    awk -v seed="$2" -v n="$3" 'BEGIN {
        srand(seed); split("the a", det, " "); split("cat dog bird fish", noun, " ")
        split("sees eats likes chases", verb, " "); split("big small red old", adj, " ")
        for (i = 0; i < n; i++) {
            l = det[1 + int(rand() * 2)] " " adj[1 + int(rand() * 4)] " " noun[1 + int(rand() * 4)]
            l = l " " verb[1 + int(rand() * 4)] " " det[1 + int(rand() * 2)] " " noun[1 + int(rand() * 4)]
            if (rand() < 0.3) l = l " today"
            print l
        }
    }' >"$1"
}
