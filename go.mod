module github.com/reconciled/reconciled

go 1.26.8
