package coze

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/pipeline"
)

// Document processing states, as Coze reports them in document/list and
// datasets/{id}/process.
const (
	StatusProcessing = 0
	StatusDone       = 1
	StatusFailed     = 9
)

// Coze format_type values for document/create.
const (
	formatDocument    = 0 // txt, pdf, docx: text knowledge bases
	formatSpreadsheet = 1 // csv, xlsx: table knowledge bases
)

// maxDeleteBatch is document/delete's documented cap on document_ids.
const maxDeleteBatch = 100

// maxListPages stops a runaway pager (a server that always says "more").
const maxListPages = 1000

// Document is a knowledge base file as document/list describes it.
type Document struct {
	ID         string
	Name       string
	Status     int
	CreateTime int64 // unix seconds
	// As document/list reports them (0 when Coze leaves them out).
	UpdateTime int64 // unix seconds
	Size       int64 // bytes
	CharCount  int64
	SliceCount int64
}

type wireDocument struct {
	ID         httpx.FlexID  `json:"document_id"`
	Name       string        `json:"name"`
	Status     int           `json:"status"`
	CreateTime httpx.FlexInt `json:"create_time"`
	UpdateTime httpx.FlexInt `json:"update_time"`
	Size       httpx.FlexInt `json:"size"`
	CharCount  httpx.FlexInt `json:"char_count"`
	SliceCount httpx.FlexInt `json:"slice_count"`
}

func (w wireDocument) doc() Document {
	return Document{ID: string(w.ID), Name: w.Name, Status: w.Status, CreateTime: int64(w.CreateTime),
		UpdateTime: int64(w.UpdateTime), Size: int64(w.Size), CharCount: int64(w.CharCount), SliceCount: int64(w.SliceCount)}
}

// newer orders documents by creation: create_time (whole seconds), then the
// id, compared as a number (Coze ids are increasing decimal strings), so
// every process agrees on which of two documents is the newer one.
func (d Document) newer(o Document) bool {
	if d.CreateTime != o.CreateTime {
		return d.CreateTime > o.CreateTime
	}
	a, b := strings.TrimLeft(d.ID, "0"), strings.TrimLeft(o.ID, "0")
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// ListDocuments returns every document of the dataset, all pages.
func (c *Client) ListDocuments(ctx context.Context) ([]Document, error) {
	var all []Document
	size := c.cfg.ListPageSize
	for page := 1; page <= maxListPages; page++ {
		var out struct {
			DocumentInfos []wireDocument `json:"document_infos"`
			Total         httpx.FlexInt  `json:"total"`
		}
		in := map[string]any{"dataset_id": c.cfg.DatasetID, "page": page, "size": size}
		if err := c.call(ctx, fmt.Sprintf("coze list documents page %d", page), "/open_api/knowledge/document/list", in, &out); err != nil {
			return nil, err
		}
		for _, d := range out.DocumentInfos {
			all = append(all, d.doc())
		}
		if len(out.DocumentInfos) < size || (out.Total > 0 && int64(page*size) >= int64(out.Total)) {
			return all, nil
		}
	}
	return nil, pipeline.Permanentf("coze list documents: more than %d pages", maxListPages)
}

type createRequest struct {
	DatasetID     string         `json:"dataset_id"`
	DocumentBases []documentBase `json:"document_bases"`
	ChunkStrategy ChunkStrategy  `json:"chunk_strategy"`
	FormatType    int            `json:"format_type"`
}

type documentBase struct {
	Name       string     `json:"name"`
	SourceInfo sourceInfo `json:"source_info"`
}

type sourceInfo struct {
	FileBase64 string `json:"file_base64"`
	FileType   string `json:"file_type"`
}

// createDocument uploads one local file and returns Coze's document id.
func (c *Client) createDocument(ctx context.Context, name string, content []byte, fileType string) (string, error) {
	format := formatDocument
	if fileType == "csv" {
		format = formatSpreadsheet
	}
	in := createRequest{
		DatasetID: c.cfg.DatasetID,
		DocumentBases: []documentBase{{
			Name:       name,
			SourceInfo: sourceInfo{FileBase64: base64.StdEncoding.EncodeToString(content), FileType: fileType},
		}},
		ChunkStrategy: c.cfg.ChunkStrategy,
		FormatType:    format,
	}
	var out struct {
		DocumentInfos []wireDocument `json:"document_infos"`
	}
	op := "coze create document " + name
	if err := c.call(ctx, op, "/open_api/knowledge/document/create", in, &out); err != nil {
		return "", err
	}
	if len(out.DocumentInfos) != 1 || out.DocumentInfos[0].ID == "" {
		return "", pipeline.Permanentf("%s: expected one document in document_infos, got %d", op, len(out.DocumentInfos))
	}
	return string(out.DocumentInfos[0].ID), nil
}

// Progress is one entry of datasets/{id}/process.
type Progress struct {
	DocumentID  string
	Status      int
	Progress    int
	Description string // status_descript: Coze's reason when processing failed
}

// DocumentProgress asks Coze how far the processing of one document is.
// A document missing from the answer is reported as still processing.
func (c *Client) DocumentProgress(ctx context.Context, documentID string) (Progress, error) {
	var out struct {
		Data struct {
			Data []struct {
				DocumentID     httpx.FlexID `json:"document_id"`
				Status         int          `json:"status"`
				Progress       int          `json:"progress"`
				StatusDescript string       `json:"status_descript"`
			} `json:"data"`
		} `json:"data"`
	}
	in := map[string]any{"document_ids": []string{documentID}}
	path := "/v1/datasets/" + c.cfg.DatasetID + "/process"
	if err := c.call(ctx, "coze document progress "+documentID, path, in, &out); err != nil {
		return Progress{}, err
	}
	for _, p := range out.Data.Data {
		if string(p.DocumentID) == documentID {
			return Progress{DocumentID: documentID, Status: p.Status, Progress: p.Progress, Description: p.StatusDescript}, nil
		}
	}
	return Progress{DocumentID: documentID, Status: StatusProcessing}, nil
}

// deleteDocuments removes documents in batches of Coze's maximum.
func (c *Client) deleteDocuments(ctx context.Context, ids []string) error {
	for start := 0; start < len(ids); start += maxDeleteBatch {
		batch := ids[start:min(start+maxDeleteBatch, len(ids))]
		in := map[string]any{"document_ids": batch}
		if err := c.call(ctx, fmt.Sprintf("coze delete %d documents", len(batch)), "/open_api/knowledge/document/delete", in, nil); err != nil {
			return err
		}
	}
	return nil
}
