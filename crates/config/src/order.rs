//! Stage ordering: the `needs` graph of a pipeline and its topological layers.

use crate::{Config, Pipeline};

/// Why a stage order could not be computed (only for configs that were not validated, or
/// an unknown pipeline name).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// No pipeline by that name.
    #[error("no pipeline named '{0}'")]
    UnknownPipeline(String),
    /// A stage needs a stage that does not exist.
    #[error("stage '{stage}' needs unknown stage '{needs}'")]
    UnknownStage {
        /// The stage with the bad `needs` entry.
        stage: String,
        /// The missing name.
        needs: String,
    },
    /// The stages' needs form a cycle (`a -> b -> a`: a needs b, b needs a).
    #[error("stages form a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

impl Pipeline {
    /// For each stage (by index), the indices of the stages it waits for: its `needs`, or
    /// the stage written before it when `needs` is absent.
    pub fn dependencies(&self) -> Result<Vec<Vec<usize>>, OrderError> {
        let mut deps = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate() {
            let list = match &stage.needs {
                None => i.checked_sub(1).into_iter().collect(),
                Some(needs) => {
                    let mut list = Vec::with_capacity(needs.len());
                    for need in needs {
                        let j = self
                            .stage_index(need)
                            .ok_or_else(|| OrderError::UnknownStage {
                                stage: stage.name.value.clone(),
                                needs: need.value.clone(),
                            })?;
                        if !list.contains(&j) {
                            list.push(j);
                        }
                    }
                    list
                }
            };
            deps.push(list);
        }
        Ok(deps)
    }

    /// Stages in layers: every stage of a layer depends only on stages in earlier layers,
    /// so the stages of one layer may run in parallel. Within a layer, stages keep the
    /// order they are written in.
    pub fn stage_order(&self) -> Result<Vec<Vec<usize>>, OrderError> {
        let deps = self.dependencies()?;
        if let Some(cycle) = find_cycle(&deps) {
            return Err(OrderError::Cycle(
                cycle
                    .iter()
                    .map(|&i| self.stages[i].name.value.clone())
                    .collect(),
            ));
        }
        let mut layer_of: Vec<Option<usize>> = vec![None; deps.len()];
        let mut layers: Vec<Vec<usize>> = Vec::new();
        let mut placed = 0;
        while placed < deps.len() {
            let layer: Vec<usize> = (0..deps.len())
                .filter(|&i| {
                    layer_of[i].is_none()
                        && deps[i]
                            .iter()
                            .all(|&d| layer_of[d].is_some_and(|l| l < layers.len()))
                })
                .collect();
            if layer.is_empty() {
                // Unreachable after find_cycle; keeps this loop finite regardless.
                return Err(OrderError::Cycle(Vec::new()));
            }
            for &i in &layer {
                layer_of[i] = Some(layers.len());
            }
            placed += layer.len();
            layers.push(layer);
        }
        Ok(layers)
    }
}

impl Config {
    /// [`Pipeline::stage_order`] of the pipeline called `pipeline`.
    pub fn stage_order(&self, pipeline: &str) -> Result<Vec<Vec<usize>>, OrderError> {
        self.pipelines
            .get(pipeline)
            .ok_or_else(|| OrderError::UnknownPipeline(pipeline.to_string()))?
            .stage_order()
    }
}

/// A cycle in the graph `deps` (i → each of deps[i]) as a path that starts and ends at the
/// same node (`[a, b, a]`), found from the lowest index; `None` if acyclic.
pub(crate) fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    for root in 0..deps.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge index); `path` mirrors the active nodes.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Active;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            if let Some(&next) = deps[node].get(*edge) {
                *edge += 1;
                match mark.get(next).copied() {
                    Some(Mark::New) => {
                        mark[next] = Mark::Active;
                        stack.push((next, 0));
                    }
                    Some(Mark::Active) => {
                        let start = stack.iter().position(|&(n, _)| n == next)?;
                        let mut cycle: Vec<usize> =
                            stack[start..].iter().map(|&(n, _)| n).collect();
                        cycle.push(next);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_cycle;

    #[test]
    fn cycles() {
        assert_eq!(find_cycle(&[vec![], vec![0], vec![1]]), None);
        assert_eq!(find_cycle(&[vec![1], vec![0]]), Some(vec![0, 1, 0]));
        assert_eq!(find_cycle(&[vec![0]]), Some(vec![0, 0]));
        assert_eq!(
            find_cycle(&[vec![], vec![2], vec![3], vec![1]]),
            Some(vec![1, 2, 3, 1])
        );
    }
}
