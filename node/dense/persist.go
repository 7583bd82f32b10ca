package dense

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/mapfile"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/vector"
)

// A shard's compact graph (vector.KindHNSWInt8) lives in three files in the
// manager's directory (SetDir), named after hashes of the shard and the
// model, so that any shard name is a valid file name:
//
//	S-M.V.vec   the graph's float32 vectors, appended as it grows; V is
//	            random, so a rebuilt graph writes a file of its own
//	S-M.graph   the graph in vector's stored form, opened by mapping it
//	S-M.ids     which chunk each vector id of the graph is (see idsFile)
//
// The graph and its ids are written when Run is idle (at most every
// saveEvery), after a rebuild and when Run stops, each to a temporary file
// that is synced and renamed over the old one, after the vector file is
// synced: so the files on disk always describe a graph whose vectors are
// durable. A crash between the two renames leaves an ids file that names
// another graph's size and checksum, and a crash before a save leaves an
// older graph whose vectors are a prefix of the vector file; either way Load
// notices or copes, and what the saved graph lacks is rebuilt or re-added
// from the vectors in the store. Nothing here is the vectors' only copy:
// the store holds them all, so a file that does not load is deleted and
// its shard rebuilt.

// defaultSaveEvery bounds how often an idle Run rewrites a changed graph:
// at 1M vectors the graph is 530 MB.
const defaultSaveEvery = time.Minute

// fileBase is the common part of a part's file names.
func fileBase(shardName, model string) string {
	return fmt.Sprintf("%016x-%016x", fnv64(shardName), fnv64(model))
}

func fnv64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// idsFile is the record beside a saved graph. All integers little-endian:
//
//	magic "EGDI", version u16, shard and model (u16 length + bytes each),
//	vector file name (u16 + bytes), graph file size u64, its checksum u32
//	(the graph's own last four bytes), dims u32, entries u32,
//	entries × (vector id u32, chunk id 16 bytes), CRC-32C of all before it
type idsFile struct {
	shard, model string
	vecName      string
	graphSize    int64
	graphCRC     uint32
	dims         int
	vids         []uint32
	chunks       []shard.ChunkID
}

const (
	idsMagic   = "EGDI"
	idsVersion = 1
	// maxIDs bounds a file's entries before they are read, so a forged
	// count cannot ask for a huge allocation.
	maxIDs = vector.MaxLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (f *idsFile) marshal() []byte {
	b := []byte(idsMagic)
	b = binary.LittleEndian.AppendUint16(b, idsVersion)
	for _, s := range []string{f.shard, f.model, f.vecName} {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(f.graphSize))
	b = binary.LittleEndian.AppendUint32(b, f.graphCRC)
	b = binary.LittleEndian.AppendUint32(b, uint32(f.dims))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.vids)))
	for i, vid := range f.vids {
		b = binary.LittleEndian.AppendUint32(b, vid)
		b = append(b, f.chunks[i][:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// parseIDs reads what marshal wrote. Its errors say what is wrong; the
// caller deletes the file and rebuilds.
func parseIDs(b []byte) (*idsFile, error) {
	if len(b) < len(idsMagic)+2+4 || string(b[:len(idsMagic)]) != idsMagic {
		return nil, errors.New("not a vector ids file")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch: the file is damaged")
	}
	p := body[len(idsMagic):]
	if v := binary.LittleEndian.Uint16(p); v != idsVersion {
		return nil, fmt.Errorf("format version %d, this build reads %d", v, idsVersion)
	}
	p = p[2:]
	var strs [3]string
	for i := range strs {
		if len(p) < 2 {
			return nil, errors.New("truncated")
		}
		n := int(binary.LittleEndian.Uint16(p))
		if len(p) < 2+n {
			return nil, errors.New("truncated")
		}
		strs[i], p = string(p[2:2+n]), p[2+n:]
	}
	if len(p) < 20 {
		return nil, errors.New("truncated")
	}
	f := &idsFile{shard: strs[0], model: strs[1], vecName: strs[2]}
	size := binary.LittleEndian.Uint64(p)
	f.graphCRC = binary.LittleEndian.Uint32(p[8:])
	dims, n := binary.LittleEndian.Uint32(p[12:]), binary.LittleEndian.Uint32(p[16:])
	p = p[20:]
	switch {
	case size > 1<<62:
		return nil, fmt.Errorf("graph size %d out of range", size)
	case dims < 1 || dims > vector.MaxDim:
		return nil, fmt.Errorf("dimension %d out of range", dims)
	case n > maxIDs || uint64(len(p)) != uint64(n)*20:
		return nil, fmt.Errorf("%d entries in %d bytes", n, len(p))
	case f.vecName != filepath.Base(f.vecName) || !strings.HasSuffix(f.vecName, ".vec"):
		return nil, fmt.Errorf("vector file name %q is not one of ours", f.vecName)
	}
	f.graphSize, f.dims = int64(size), int(dims)
	f.vids, f.chunks = make([]uint32, n), make([]shard.ChunkID, n)
	for i := range f.vids {
		f.vids[i] = binary.LittleEndian.Uint32(p)
		copy(f.chunks[i][:], p[4:20])
		p = p[20:]
	}
	return f, nil
}

// createVectorFile makes a new vector file for a part's compact graph.
func (m *Manager) createVectorFile(shardName, model string) (*os.File, error) {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, err
	}
	return os.CreateTemp(m.dir, fileBase(shardName, model)+".*.vec")
}

// save writes p's compact graph and its ids record. It holds p's read lock
// while it writes the graph to a temporary file, so searches go on but
// deletions wait (about a second at 1M vectors); the syncs, slower on a
// small device's flash, come after it is released.
func (m *Manager) save(p *part) error {
	fail := func(err error) error {
		m.mu.Lock()
		p.unsaved = true
		m.mu.Unlock()
		return fmt.Errorf("dense: save the graph of shard %q: %w", p.shard, err)
	}
	rec, vf, tmpGraph, err := m.writeGraph(p)
	if err != nil || rec == nil {
		return err
	}
	defer os.Remove(tmpGraph) // fails harmlessly once renamed
	// The graph must not name vectors that are not on disk.
	if err := vf.Sync(); err != nil {
		return fail(err)
	}
	if err := syncPath(tmpGraph); err != nil {
		return fail(err)
	}
	if rec.graphSize, rec.graphCRC, err = graphTail(tmpGraph); err != nil {
		return fail(err)
	}
	tmpIDs, err := writeTemp(m.dir, func(w io.Writer) error { _, err := w.Write(rec.marshal()); return err })
	if err == nil {
		defer os.Remove(tmpIDs)
		err = syncPath(tmpIDs)
	}
	if err != nil {
		return fail(err)
	}
	base := filepath.Join(m.dir, fileBase(p.shard, p.gen.model))
	if err := os.Rename(tmpGraph, base+".graph"); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpIDs, base+".ids"); err != nil {
		return fail(err)
	}
	if err := syncDir(m.dir); err != nil {
		return fail(err)
	}
	return nil
}

// writeGraph writes p's graph to a temporary file, not yet synced, and
// returns it with the ids record of the same moment and the vector file;
// a nil record when p has no compact graph.
func (m *Manager) writeGraph(p *part) (*idsFile, *os.File, string, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	h, ok := p.ix.(*vector.HNSW)
	if !ok || p.vf == nil {
		return nil, nil, "", nil
	}
	m.mu.Lock()
	p.unsaved = false // changes from now on need another save
	b := m.books[p.shard]
	rec := &idsFile{shard: p.shard, model: p.gen.model, vecName: filepath.Base(p.vf.Name()), dims: p.gen.dims}
	if b != nil {
		for vid, e := range b.ents {
			if e.live && p.hasVec(uint32(vid)) {
				rec.vids, rec.chunks = append(rec.vids, uint32(vid)), append(rec.chunks, e.id)
			}
		}
	}
	m.mu.Unlock()
	tmp, err := writeTemp(m.dir, func(w io.Writer) error { _, err := h.WriteTo(w); return err })
	if err != nil {
		m.mu.Lock()
		p.unsaved = true
		m.mu.Unlock()
		return nil, nil, "", fmt.Errorf("dense: save the graph of shard %q: %w", p.shard, err)
	}
	return rec, p.vf, tmp, nil
}

// writeTemp writes a temporary file in dir and returns its path; the
// caller syncs it.
func writeTemp(dir string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, "tmp-*")
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func syncPath(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// graphTail returns a graph file's size and its last four bytes, the
// stored form's checksum.
func graphTail(path string) (int64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	var b [4]byte
	if _, err := f.ReadAt(b[:], fi.Size()-4); err != nil {
		return 0, 0, err
	}
	return fi.Size(), binary.LittleEndian.Uint32(b[:]), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// loaded is a saved graph opened at Load, before it is matched to the
// chunks the node has now.
type loaded struct {
	h   *vector.HNSW
	vf  *os.File
	rec *idsFile
}

// openSaved opens the saved graph of a shard for model, or returns nil
// when there is none; a graph that does not open is logged and its files
// are left for sweep to delete.
func (m *Manager) openSaved(shardName, model string, dims int) *loaded {
	if m.dir == "" {
		return nil
	}
	base := filepath.Join(m.dir, fileBase(shardName, model))
	raw, err := os.ReadFile(base + ".ids")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l, err := m.openGraph(base, raw, shardName, model, dims)
	if err != nil {
		m.log.Warn("dense: saved graph does not load; rebuilding it from the stored vectors", "shard", shardName, "model", model, "err", err)
		return nil
	}
	return l
}

func (m *Manager) openGraph(base string, raw []byte, shardName, model string, dims int) (*loaded, error) {
	rec, err := parseIDs(raw)
	if err != nil {
		return nil, fmt.Errorf("%s.ids: %w", base, err)
	}
	if rec.shard != shardName || rec.model != model || (dims != 0 && rec.dims != dims) {
		return nil, fmt.Errorf("%s.ids is for shard %q, model %q, %d dimensions", base, rec.shard, rec.model, rec.dims)
	}
	size, sum, err := graphTail(base + ".graph")
	if err != nil {
		return nil, err
	}
	if size != rec.graphSize || sum != rec.graphCRC {
		return nil, fmt.Errorf("%s.graph is not the graph its ids record describes (a save was interrupted)", base)
	}
	vf, err := os.OpenFile(filepath.Join(m.dir, rec.vecName), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	h, err := openGraph(base+".graph", vf, vector.Config{Dim: rec.dims})
	if err != nil {
		vf.Close()
		return nil, err
	}
	return &loaded{h: h, vf: vf, rec: rec}, nil
}

// retire releases the indexes of generations a model switch dropped, and
// deletes their compact graphs' files. Only Run calls it, between its own
// steps: Run is the only one that creates those files, and it no longer
// works for a dropped generation.
func (m *Manager) retire() {
	m.mu.Lock()
	gens := m.retired
	m.retired = nil
	m.mu.Unlock()
	for _, g := range gens {
		for _, p := range g.parts {
			p.mu.Lock() // waits for searches still in the index
			vf := p.vf
			p.ix, p.vf = nil, nil
			p.mu.Unlock()
			if vf == nil {
				continue
			}
			m.dropFile(vf)
			base := filepath.Join(m.dir, fileBase(p.shard, g.model))
			for _, ext := range []string{".graph", ".ids"} {
				if err := os.Remove(base + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
					m.log.Warn("dense: cannot delete a dropped model's graph", "file", base+ext, "err", err)
				}
			}
		}
	}
}

// sweep deletes the files in the directory that no part uses: graphs that
// did not load, vector files of rebuilt graphs, of other models or of
// shards that are gone, and temporary files a crash left. keep holds the
// names in use. It runs at Load, before Run can create files.
func (m *Manager) sweep(keep map[string]bool) {
	if m.dir == "" {
		return
	}
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("dense: cannot list the vector directory", "dir", m.dir, "err", err)
		}
		return
	}
	for _, e := range ents {
		name := e.Name()
		ours := strings.HasPrefix(name, "tmp-") || strings.HasSuffix(name, ".vec") ||
			strings.HasSuffix(name, ".graph") || strings.HasSuffix(name, ".ids")
		if e.IsDir() || !ours || keep[name] {
			continue
		}
		if err := os.Remove(filepath.Join(m.dir, name)); err != nil {
			m.log.Warn("dense: cannot delete an unused vector file", "file", name, "err", err)
		}
	}
}

// openGraph maps a shard's saved compact graph and loads it in place: the
// graph's pages stay page cache instead of the node's anonymous memory
// (vector.LoadCompactMapped), and the mapping is released with the graph.
func openGraph(path string, store vector.VectorStore, cfg vector.Config) (*vector.HNSW, error) {
	data, err := mapfile.OpenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("open compact graph: %w", err)
	}
	h, err := vector.LoadCompactMapped(data, func(b []byte) { _ = mapfile.Unmap(b) }, store, cfg)
	if err != nil {
		_ = mapfile.Unmap(data)
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return h, nil
}
