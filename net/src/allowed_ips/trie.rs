//! A path-compressed binary trie over 128-bit keys, for longest-prefix match.
//!
//! Keys are left-aligned: an IPv4 address occupies the top 32 bits. A node
//! stands for one prefix (`key`, `len`); it either carries a value (a route)
//! or is a branching point with exactly two children. Value-less nodes with
//! one child are spliced out, so the trie has fewer than two nodes per route
//! and its depth is bounded by the number of bits at which routes diverge.
//!
//! Nodes live in one `Vec` arena and refer to each other by `u32` index:
//! no unsafe code, no per-node allocation, and removal recycles slots
//! through a free list threaded through the unused nodes. Lookups only read.
//!
//! A lookup is a chain of dependent memory loads, one per level, so the node
//! is kept to the 32 bytes a walk reads, aligned so it never straddles two
//! cache lines. Route values live in a parallel vector and are read once,
//! for the final match.

use alloc::vec::Vec;

use super::AllowedIpsError;

/// The "no node" index.
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
#[repr(align(32))]
struct Node {
    /// Prefix bits, left-aligned, as two halves (a `u128` field would force
    /// 16-byte alignment and a 48-byte node); bits past `len` are zero.
    key_high: u64,
    key_low: u64,
    /// Subtrees whose next bit after `len` is 0 and 1. In a free slot,
    /// `children[0]` links to the next free slot.
    children: [u32; 2],
    /// The parent node, or `NIL` for the root (and for free slots).
    parent: u32,
    /// Prefix length in bits.
    len: u8,
    /// Whether `values` holds a route for this node.
    has_value: bool,
}

impl Node {
    fn new(key: u128, len: u8, has_value: bool, parent: u32) -> Node {
        Node {
            key_high: (key >> 64) as u64,
            key_low: key as u64,
            children: [NIL, NIL],
            parent,
            len,
            has_value,
        }
    }

    fn key(&self) -> u128 {
        (u128::from(self.key_high) << 64) | u128::from(self.key_low)
    }
}

/// Longest-prefix-match trie; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Trie<T> {
    nodes: Vec<Node>,
    /// `values[i]` is the route of `nodes[i]`; `None` for branching nodes
    /// and free slots.
    values: Vec<Option<T>>,
    root: u32,
    /// Head of the free-slot list inside `nodes`.
    free_head: u32,
    /// Nodes that carry a value.
    routes: usize,
}

/// Netmask of the top `len` bits.
fn mask(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// Bit `index` of `key`, counting from the most significant; 0 past the end.
fn bit_at(key: u128, index: u8) -> usize {
    (key.checked_shl(u32::from(index)).unwrap_or(0) >> 127) as usize
}

/// Whether `key` lies inside the prefix (`prefix`, `len`): the two agree on
/// at least the first `len` bits. One count of leading zeros, no mask to build.
fn prefix_matches(prefix: u128, len: u8, key: u128) -> bool {
    (prefix ^ key).leading_zeros() >= u32::from(len)
}

/// Number of leading bits `a` and `b` share, at most `limit`.
fn common_prefix_len(a: u128, b: u128, limit: u8) -> u8 {
    // leading_zeros is at most 128, so it fits a u8.
    ((a ^ b).leading_zeros() as u8).min(limit)
}

impl<T: Copy + Eq> Trie<T> {
    pub(crate) const fn new() -> Trie<T> {
        Trie {
            nodes: Vec::new(),
            values: Vec::new(),
            root: NIL,
            free_head: NIL,
            routes: 0,
        }
    }

    /// Number of routes (prefixes with a value).
    pub(crate) fn len(&self) -> usize {
        self.routes
    }

    pub(crate) fn clear(&mut self) {
        *self = Trie::new();
    }

    /// The value of the longest prefix containing `key`.
    pub(crate) fn lookup(&self, key: u128) -> Option<T> {
        let mut best = NIL;
        let mut cur = self.root;
        while let Some(node) = self.nodes.get(cur as usize) {
            if !prefix_matches(node.key(), node.len, key) {
                break;
            }
            if node.has_value {
                best = cur;
            }
            if node.len >= 128 {
                break;
            }
            cur = node.children[bit_at(key, node.len)];
        }
        self.values.get(best as usize).copied().flatten()
    }

    /// The value stored for exactly this prefix.
    pub(crate) fn get(&self, key: u128, len: u8) -> Option<T> {
        let index = self.find_exact(key & mask(len), len)?;
        self.values[index as usize]
    }

    /// Sets the value of the prefix, returning the previous one.
    pub(crate) fn insert(
        &mut self,
        key: u128,
        len: u8,
        value: T,
    ) -> Result<Option<T>, AllowedIpsError> {
        let len = len.min(128);
        let key = key & mask(len);
        // A new route adds at most two nodes (itself and a branching node).
        // Reserve them up front so a failure leaves the trie untouched.
        self.reserve(2)?;

        let mut parent = NIL;
        let mut parent_dir = 0;
        let mut cur = self.root;
        loop {
            let Some(&node) = self.nodes.get(cur as usize) else {
                // Fell off the trie: hang a new leaf where the path ended.
                let leaf = self.allocate(key, len, Some(value), parent);
                self.link(parent, parent_dir, leaf);
                self.routes += 1;
                return Ok(None);
            };
            let (node_key, node_len) = (node.key(), node.len);
            let common = common_prefix_len(node_key, key, node_len.min(len));

            if common == node_len {
                if node_len == len {
                    self.nodes[cur as usize].has_value = true;
                    let previous = self.values[cur as usize].replace(value);
                    if previous.is_none() {
                        self.routes += 1;
                    }
                    return Ok(previous);
                }
                // The node's prefix covers ours: descend.
                parent = cur;
                parent_dir = bit_at(key, node_len);
                cur = node.children[parent_dir];
                continue;
            }

            let new_node = if common == len {
                // Our prefix covers the node's: slot in above it.
                self.allocate(key, len, Some(value), parent)
            } else {
                // The prefixes part at bit `common`: add a branching node
                // holding both the existing subtree and our new leaf.
                let branch = self.allocate(key & mask(common), common, None, parent);
                let leaf = self.allocate(key, len, Some(value), branch);
                self.nodes[branch as usize].children[bit_at(key, common)] = leaf;
                branch
            };
            self.nodes[new_node as usize].children[bit_at(node_key, common)] = cur;
            self.nodes[cur as usize].parent = new_node;
            self.link(parent, parent_dir, new_node);
            self.routes += 1;
            return Ok(None);
        }
    }

    /// Removes the exact prefix, returning its value.
    pub(crate) fn remove(&mut self, key: u128, len: u8) -> Option<T> {
        let index = self.find_exact(key & mask(len), len)?;
        let value = self.values[index as usize].take()?;
        self.nodes[index as usize].has_value = false;
        self.routes -= 1;
        self.prune_from(index);
        Some(value)
    }

    /// Removes every route whose value is `value`; returns how many.
    pub(crate) fn remove_value(&mut self, value: T) -> usize {
        let mut removed = 0;
        // Scanning the arena is a straight pass over memory; compaction only
        // frees nodes, and freed slots hold no value, so none is skipped.
        for index in 0..self.values.len() {
            if self.values[index] == Some(value) {
                self.values[index] = None;
                self.nodes[index].has_value = false;
                self.routes -= 1;
                removed += 1;
                self.prune_from(index as u32);
            }
        }
        removed
    }

    /// Rewrites the arena in depth-first order, dropping free slots.
    ///
    /// A node's first child then sits right after it, often in the same
    /// cache line, and each subtree is one contiguous run of memory, so a
    /// walk touches fewer lines than with nodes in insertion order.
    pub(crate) fn compact(&mut self) -> Result<(), AllowedIpsError> {
        let live = self.nodes.len();
        let mut new_index: Vec<u32> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut values: Vec<Option<T>> = Vec::new();
        new_index
            .try_reserve_exact(live)
            .and_then(|()| nodes.try_reserve_exact(live))
            .and_then(|()| values.try_reserve_exact(live))
            .map_err(|_| AllowedIpsError::OutOfMemory)?;
        new_index.resize(live, NIL);

        let mut cur = self.root;
        while cur != NIL {
            new_index[cur as usize] = nodes.len() as u32;
            nodes.push(self.nodes[cur as usize]);
            values.push(self.values[cur as usize]);
            cur = successor(&self.nodes, cur);
        }
        let renumber = |index: u32| new_index.get(index as usize).copied().unwrap_or(NIL);
        for node in &mut nodes {
            node.children = node.children.map(renumber);
            node.parent = renumber(node.parent);
        }
        self.root = renumber(self.root);
        self.nodes = nodes;
        self.values = values;
        self.free_head = NIL;
        Ok(())
    }

    /// Iterates over `(key, len, value)` in key order, shorter prefixes first.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        Iter {
            trie: self,
            next: self.root,
        }
    }

    fn find_exact(&self, key: u128, len: u8) -> Option<u32> {
        let mut cur = self.root;
        while let Some(node) = self.nodes.get(cur as usize) {
            if node.len > len || !prefix_matches(node.key(), node.len, key) {
                return None;
            }
            if node.len == len {
                return Some(cur);
            }
            cur = node.children[bit_at(key, node.len)];
        }
        None
    }

    fn reserve(&mut self, nodes: usize) -> Result<(), AllowedIpsError> {
        let mut free = 0;
        let mut slot = self.free_head;
        while free < nodes && slot != NIL {
            free += 1;
            slot = self.nodes[slot as usize].children[0];
        }
        let needed = nodes - free;
        if self.nodes.len() + needed > NIL as usize {
            return Err(AllowedIpsError::TooManyEntries);
        }
        self.nodes
            .try_reserve(needed)
            .and_then(|()| self.values.try_reserve(needed))
            .map_err(|_| AllowedIpsError::OutOfMemory)
    }

    /// Takes a free slot or appends; capacity must have been reserved.
    fn allocate(&mut self, key: u128, len: u8, value: Option<T>, parent: u32) -> u32 {
        let node = Node::new(key, len, value.is_some(), parent);
        let index = self.free_head;
        if let Some(slot) = self.nodes.get_mut(index as usize) {
            self.free_head = slot.children[0];
            *slot = node;
            self.values[index as usize] = value;
            index
        } else {
            self.nodes.push(node);
            self.values.push(value);
            (self.nodes.len() - 1) as u32
        }
    }

    fn release(&mut self, index: u32) {
        let mut free = Node::new(0, 0, false, NIL);
        free.children[0] = self.free_head;
        self.nodes[index as usize] = free;
        self.values[index as usize] = None;
        self.free_head = index;
    }

    /// Makes `child` the `dir` child of `parent`, or the root.
    fn link(&mut self, parent: u32, dir: usize, child: u32) {
        match self.nodes.get_mut(parent as usize) {
            Some(node) => node.children[dir] = child,
            None => self.root = child,
        }
    }

    /// Points whatever referred to `index` (its parent or the root) at `replacement`.
    fn replace_in_parent(&mut self, index: u32, replacement: u32) {
        let parent = self.nodes[index as usize].parent;
        match self.nodes.get_mut(parent as usize) {
            Some(node) => {
                let dir = usize::from(node.children[0] != index);
                node.children[dir] = replacement;
            }
            None => self.root = replacement,
        }
        if let Some(node) = self.nodes.get_mut(replacement as usize) {
            node.parent = parent;
        }
    }

    /// Restores the invariant "a value-less node has two children" after
    /// `index` lost its value, freeing nodes that no longer earn their keep.
    fn prune_from(&mut self, mut index: u32) {
        loop {
            let node = &self.nodes[index as usize];
            if node.has_value {
                return;
            }
            let parent = node.parent;
            match node.children {
                [NIL, NIL] => {
                    self.replace_in_parent(index, NIL);
                    self.release(index);
                    if parent == NIL {
                        return;
                    }
                    // The parent may now be a value-less node with one child.
                    index = parent;
                }
                [only, NIL] | [NIL, only] => {
                    self.replace_in_parent(index, only);
                    self.release(index);
                    return;
                }
                _ => return,
            }
        }
    }
}

/// Pre-order walk of a [`Trie`], following parent links instead of a stack.
pub(crate) struct Iter<'a, T> {
    trie: &'a Trie<T>,
    next: u32,
}

impl<T: Copy + Eq> Iterator for Iter<'_, T> {
    type Item = (u128, u8, T);

    fn next(&mut self) -> Option<(u128, u8, T)> {
        let nodes = &self.trie.nodes;
        while let Some(node) = nodes.get(self.next as usize) {
            let current = self.next;
            self.next = successor(nodes, current);
            if let Some(value) = self.trie.values[current as usize] {
                return Some((node.key(), node.len, value));
            }
        }
        None
    }
}

/// The node after `index` in pre-order, or `NIL`.
fn successor(nodes: &[Node], index: u32) -> u32 {
    let node = &nodes[index as usize];
    if let Some(&child) = node.children.iter().find(|&&c| c != NIL) {
        return child;
    }
    // Climb until we leave a 0-subtree whose sibling 1-subtree exists.
    let mut child = index;
    let mut parent = node.parent;
    while let Some(up) = nodes.get(parent as usize) {
        if up.children[0] == child && up.children[1] != NIL {
            return up.children[1];
        }
        child = parent;
        parent = up.parent;
    }
    NIL
}
