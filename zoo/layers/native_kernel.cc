// One recurrent time loop for three cells (basic, LSTM, GRU) as two TensorFlow
// CPU ops, float32: ZooRecurrence (forward) and ZooRecurrenceGrad. Usually the
// caller computes the input side, projected = x W + b for every frame, with
// one large matmul outside the op, as cuDNN does, and the op runs what is
// left, the sequential part. For narrow inputs (project_inputs) the op takes
// x, W and b and makes p_t = x_t W + b itself, a block of rows per step: at a
// few dozen features that product is cheap, and the large one outside would
// be bound by memory, writing (and in the gradient reading twice) a tensor
// D*G times as wide as x. zoo/layers/native_kernel.py builds this file on
// first use and wraps both ops in a differentiable function.
//
// A cell is data for the loop: a small struct with its gate count G, state
// count S, workspace width (in units) and the elementwise equations of one
// row's forward and backward step. Everything else is written once below:
// directions, masks, layouts, row blocks and threads, and per step
//   forward:  a = h_{t-1} U                   (rows x U) x (U x G*U)
//             the cell's row equations on p_t and a
//   backward: g = dL/dh_t + carry;  the cell's row equations give dL/dp_t, dL/dq_t
//             carry = direct + dq U^T;  dU += h_{t-1}^T dq
//             and with project_inputs: dx_t = dp W^T;  dW += x_t^T dp;  db += dp
// where q is what meets U: dq = dp except for the GRU's reset-scaled h part.
//
// Why an op of our own:
// - A step is a few small products and a few dozen elementwise operations:
//   TensorFlow schedules each as an op of its own, per step. Built here with
//   -march=native, Eigen uses the CPU's widest vectors (AVX-512 where there
//   is one) in the products, and each row's gate arithmetic is one fused pass.
// - Sequences in a batch never interact, so the batch is cut into blocks of
//   rows and each (direction, block) runs the whole time loop on its own
//   intra-op thread: no synchronisation between steps. Only the weight
//   gradients are summed across blocks, once, in block order, so results do
//   not depend on thread timing.
// - Frames are read and written in the caller's layout (batch-major or
//   time-major) through strided views: nothing is transposed or copied.

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace zoo {
namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::RowVectorXf;
using Rows = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
using ConstRows = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
using Array = Eigen::Map<Eigen::ArrayXf>;
using ConstArray = Eigen::Map<const Eigen::ArrayXf>;

// A floor on a block's share of the batch, so that its products stay thick.
// A guess, not tuned: the benchmark's batch of 64 on two threads gives blocks of 32.
constexpr int64_t kMinimumRowsPerBlock = 16;

// The depth (rows times steps) of each product that sums the recurrent kernel's gradient.
constexpr int64_t kGradientDepth = 256;

// The recurrent products, rows x K times a K x N weight matrix that stays the
// same for every step of a call. Eigen's general product would repack that
// matrix on every step (a megabyte at 256 LSTM units); here it is packed once
// per call, into panels of kPanel columns, each contiguous for every k, and
// a register tile of kTileRows x kPanel outputs is summed over k. Each output
// is summed over k in order, whatever the rows of a block, so a row's result
// does not depend on how the batch is cut.
using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int kLanes = Eigen::internal::unpacket_traits<Packet>::size;
constexpr int kPanel = 2 * kLanes;
// As many accumulators as the vector registers allow: 32 with AVX-512, 16 below.
constexpr int kTileRows = kLanes >= 16 ? 12 : 6;

class PackedWeights {
 public:
  // B = weights (depth x columns, row-major, row stride ld), or its transpose when `transpose` (weights then
  // columns x depth, row stride ld).
  PackedWeights(const float* weights, int64_t depth, int64_t columns, int64_t ld, bool transpose)
      : depth_(depth), columns_(columns), panels_((columns + kPanel - 1) / kPanel),
        data_(panels_ * depth * kPanel, 0.0f) {
    for (int64_t panel = 0; panel < panels_; ++panel) {
      float* out = data_.data() + panel * depth * kPanel;
      const int64_t width = std::min<int64_t>(kPanel, columns - panel * kPanel);
      for (int64_t k = 0; k < depth; ++k) {
        for (int64_t j = 0; j < width; ++j) {
          const int64_t column = panel * kPanel + j;
          out[k * kPanel + j] = transpose ? weights[column * ld + k] : weights[k * ld + column];
        }
      }
    }
  }

  // c (rows x columns, row stride ldc) = (or += when `accumulate`) a (rows x depth, row stride lda) B.
  void Multiply(const float* a, int64_t lda, int64_t rows, float* c, int64_t ldc, bool accumulate) const {
    for (int64_t first = 0; first < rows; first += kTileRows) {
      const int64_t tile_rows = std::min<int64_t>(kTileRows, rows - first);
      for (int64_t panel = 0; panel < panels_; ++panel) {
        Tile(tile_rows, a + first * lda, lda, data_.data() + panel * depth_ * kPanel,
             c + first * ldc + panel * kPanel, ldc, std::min<int64_t>(kPanel, columns_ - panel * kPanel),
             accumulate);
      }
    }
  }

 private:
  void Tile(int64_t rows, const float* a, int64_t lda, const float* panel, float* c, int64_t ldc, int64_t width,
            bool accumulate) const {
    switch (rows) {
      case 12: return TileOf<12>(a, lda, panel, c, ldc, width, accumulate);
      case 11: return TileOf<11>(a, lda, panel, c, ldc, width, accumulate);
      case 10: return TileOf<10>(a, lda, panel, c, ldc, width, accumulate);
      case 9: return TileOf<9>(a, lda, panel, c, ldc, width, accumulate);
      case 8: return TileOf<8>(a, lda, panel, c, ldc, width, accumulate);
      case 7: return TileOf<7>(a, lda, panel, c, ldc, width, accumulate);
      case 6: return TileOf<6>(a, lda, panel, c, ldc, width, accumulate);
      case 5: return TileOf<5>(a, lda, panel, c, ldc, width, accumulate);
      case 4: return TileOf<4>(a, lda, panel, c, ldc, width, accumulate);
      case 3: return TileOf<3>(a, lda, panel, c, ldc, width, accumulate);
      case 2: return TileOf<2>(a, lda, panel, c, ldc, width, accumulate);
      default: return TileOf<1>(a, lda, panel, c, ldc, width, accumulate);
    }
  }

  template <int kRows>
  void TileOf(const float* a, int64_t lda, const float* panel, float* c, int64_t ldc, int64_t width,
              bool accumulate) const {
    using namespace Eigen::internal;
    Packet low[kRows], high[kRows];
    for (int r = 0; r < kRows; ++r) low[r] = high[r] = pset1<Packet>(0.0f);
    for (int64_t k = 0; k < depth_; ++k) {
      const Packet b_low = pload<Packet>(panel + k * kPanel), b_high = pload<Packet>(panel + k * kPanel + kLanes);
      for (int r = 0; r < kRows; ++r) {
        const Packet x = pset1<Packet>(a[r * lda + k]);
        low[r] = pmadd(x, b_low, low[r]);
        high[r] = pmadd(x, b_high, high[r]);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      float* out = c + r * ldc;
      if (width == kPanel) {
        pstoreu(out, accumulate ? padd(ploadu<Packet>(out), low[r]) : low[r]);
        pstoreu(out + kLanes, accumulate ? padd(ploadu<Packet>(out + kLanes), high[r]) : high[r]);
      } else {
        alignas(64) float sums[kPanel];
        pstore(sums, low[r]);
        pstore(sums + kLanes, high[r]);
        for (int64_t j = 0; j < width; ++j) out[j] = (accumulate ? out[j] : 0.0f) + sums[j];
      }
    }
  }

  int64_t depth_, columns_, panels_;
  std::vector<float, Eigen::aligned_allocator<float>> data_;
};

enum class Activation { kTanh, kSigmoid, kRelu, kLinear };

Activation ParseActivation(const std::string& name) {
  if (name == "tanh") return Activation::kTanh;
  if (name == "sigmoid") return Activation::kSigmoid;
  if (name == "relu") return Activation::kRelu;
  return Activation::kLinear;
}

// What a cell's row equations see besides the row itself: one direction's constants.
struct CellConstants {
  int64_t units;
  Activation activation;       // the basic cell's
  const float* recurrent_bias;  // the GRU's (G*U floats)
};

ConstArray In(const float* data, int64_t units) { return ConstArray(data, units); }
Array Out(float* data, int64_t units) { return Array(data, units); }

// h = phi(p + h_prev U).  No workspace: phi' is read from h.
struct BasicCell {
  static constexpr int kGates = 1, kStates = 1, kWorkspace = 0;
  static constexpr bool kSeparateDq = false;

  static void Forward(const CellConstants& k, const float* p, const float* a, const float*, const float*,
                      float* h, float*) {
    const int64_t n = k.units;
    const auto z = In(p, n) + In(a, n);
    switch (k.activation) {
      case Activation::kTanh: Out(h, n) = z.tanh(); break;
      case Activation::kSigmoid: Out(h, n) = z.logistic(); break;
      case Activation::kRelu: Out(h, n) = z.max(0.0f); break;
      case Activation::kLinear: Out(h, n) = z; break;
    }
  }

  static void Backward(const CellConstants& k, const float* g, const float* h, const float*, const float*,
                       const float*, float* dp, float*, float* direct, float*) {
    const int64_t n = k.units;
    const ConstArray dh = In(g, n), y = In(h, n);
    switch (k.activation) {
      case Activation::kTanh: Out(dp, n) = dh * (1.0f - y.square()); break;
      case Activation::kSigmoid: Out(dp, n) = dh * y * (1.0f - y); break;
      case Activation::kRelu: Out(dp, n) = (y > 0.0f).select(dh, 0.0f); break;
      case Activation::kLinear: Out(dp, n) = dh; break;
    }
    Out(direct, n).setZero();
  }
};

// Keras's LSTM, gates i, f, c, o. Workspace row: [i | f | g | o | c | tanh c].
struct LstmCell {
  static constexpr int kGates = 4, kStates = 2, kWorkspace = 6;
  static constexpr int kCellColumn = 4;  // where c lives in a workspace row, in units
  static constexpr bool kSeparateDq = false;

  static void Forward(const CellConstants& k, const float* p, const float* a, const float*, const float* c_prev,
                      float* h, float* work) {
    const int64_t n = k.units;
    Array i = Out(work, n), f = Out(work + n, n), g = Out(work + 2 * n, n), o = Out(work + 3 * n, n),
          c = Out(work + 4 * n, n), tanh_c = Out(work + 5 * n, n);
    i = (In(p, n) + In(a, n)).logistic();
    f = (In(p + n, n) + In(a + n, n)).logistic();
    g = (In(p + 2 * n, n) + In(a + 2 * n, n)).tanh();
    o = (In(p + 3 * n, n) + In(a + 3 * n, n)).logistic();
    c = f * In(c_prev, n) + i * g;
    tanh_c = c.tanh();
    Out(h, n) = o * tanh_c;
  }

  // carry_c holds dL/dc_t from the step after on entry and dL/dc_{t-1} on exit.
  static void Backward(const CellConstants& k, const float* dh, const float*, const float*, const float* c_prev,
                       const float* work, float* dp, float*, float* direct, float* carry_c) {
    const int64_t n = k.units;
    const ConstArray i = In(work, n), f = In(work + n, n), g = In(work + 2 * n, n), o = In(work + 3 * n, n),
                     tanh_c = In(work + 5 * n, n), upstream = In(dh, n);
    Array dc = Out(carry_c, n);
    dc += upstream * o * (1.0f - tanh_c.square());
    Out(dp, n) = dc * g * i * (1.0f - i);
    Out(dp + n, n) = dc * In(c_prev, n) * f * (1.0f - f);
    Out(dp + 2 * n, n) = dc * i * (1.0f - g.square());
    Out(dp + 3 * n, n) = upstream * tanh_c * o * (1.0f - o);
    dc *= f;
    Out(direct, n).setZero();
  }
};

// Keras's GRU with reset_after=True, gates z, r, h. q = h_prev U + b_r.
// Workspace row: [z | r | n | q_h].
struct GruCell {
  static constexpr int kGates = 3, kStates = 1, kWorkspace = 4;
  static constexpr bool kSeparateDq = true;

  static void Forward(const CellConstants& k, const float* p, const float* a, const float* h_prev, const float*,
                      float* h, float* work) {
    const int64_t n = k.units;
    const float* b = k.recurrent_bias;
    Array z = Out(work, n), r = Out(work + n, n), candidate = Out(work + 2 * n, n), q_h = Out(work + 3 * n, n);
    z = (In(p, n) + In(a, n) + In(b, n)).logistic();
    r = (In(p + n, n) + In(a + n, n) + In(b + n, n)).logistic();
    q_h = In(a + 2 * n, n) + In(b + 2 * n, n);
    candidate = (In(p + 2 * n, n) + r * q_h).tanh();
    Out(h, n) = z * In(h_prev, n) + (1.0f - z) * candidate;
  }

  static void Backward(const CellConstants& k, const float* dh, const float*, const float* h_prev, const float*,
                       const float* work, float* dp, float* dq, float* direct, float*) {
    const int64_t n = k.units;
    const ConstArray z = In(work, n), r = In(work + n, n), candidate = In(work + 2 * n, n),
                     q_h = In(work + 3 * n, n), upstream = In(dh, n);
    Array d_candidate = Out(dp + 2 * n, n);
    d_candidate = upstream * (1.0f - z) * (1.0f - candidate.square());
    Out(dp, n) = upstream * (In(h_prev, n) - candidate) * z * (1.0f - z);
    Out(dp + n, n) = d_candidate * q_h * r * (1.0f - r);
    Out(dq, 2 * n) = In(dp, 2 * n);
    Out(dq + 2 * n, n) = d_candidate * r;
    Out(direct, n) = upstream * z;
  }
};

// Where frame t of a (batch, time, width) or (time, batch, width) tensor lives.
struct Frames {
  int64_t batch, time, width;
  bool time_major;

  int64_t stride() const { return time_major ? width : time * width; }
  int64_t offset(int64_t t, int64_t row) const {
    return time_major ? (t * batch + row) * width : (row * time + t) * width;
  }
};

// The attributes and shapes both ops share, read and checked once per call.
struct Problem {
  std::string cell;
  Activation activation;
  bool reverse, time_major, project_inputs;
  int64_t directions, batch, time, units, gates, states, workspace;
  int64_t features;  // x's width with project_inputs, else 0
  const bool* mask;  // nullptr when every frame is real

  // Direction 1 always runs against direction 0.
  bool backwards(int64_t direction) const { return reverse != (direction == 1); }
  int64_t time_of(int64_t direction, int64_t index) const {
    return backwards(direction) ? time - 1 - index : index;
  }
  bool real(int64_t t, int64_t row) const {
    return mask == nullptr || mask[time_major ? t * batch + row : row * time + t];
  }
  // The op's first input: x (project_inputs) or x W + b of every direction side by side.
  Frames inputs() const { return {batch, time, project_inputs ? features : directions * gates * units, time_major}; }
  // Where direction d's p_t starts in a frame of inputs() (project_inputs: in the op's own buffer).
  int64_t input_column(int64_t direction) const { return project_inputs ? 0 : direction * gates * units; }
  // Each direction's states are a tensor of their own, so a Bidirectional layer merges them without slicing.
  Frames outputs() const { return {batch, time, units, time_major}; }
  TensorShape frames_shape(int64_t width) const {
    return time_major ? TensorShape({time, batch, width}) : TensorShape({batch, time, width});
  }
  // (D, time, batch, W*U): a block's rows of one frame are contiguous.
  TensorShape workspace_shape() const { return TensorShape({directions, time, batch, workspace * units}); }
  int64_t work_offset(int64_t direction, int64_t t, int64_t row) const {
    return ((direction * time + t) * batch + row) * workspace * units;
  }
};

// The gate count, state count and workspace width of a cell, by name.
void CellSizes(const std::string& cell, int64_t* gates, int64_t* states, int64_t* workspace) {
  if (cell == "lstm") {
    *gates = LstmCell::kGates, *states = LstmCell::kStates, *workspace = LstmCell::kWorkspace;
  } else if (cell == "gru") {
    *gates = GruCell::kGates, *states = GruCell::kStates, *workspace = GruCell::kWorkspace;
  } else {
    *gates = BasicCell::kGates, *states = BasicCell::kStates, *workspace = BasicCell::kWorkspace;
  }
}

// Runs `work(direction, block, first_row, rows)` for every (direction, block of rows), one per intra-op thread.
template <typename Work>
void ForEachBlock(OpKernelContext* context, const Problem& problem, int64_t blocks, Work work) {
  const int64_t rows_per_block = (problem.batch + blocks - 1) / blocks;
  const int64_t units = problem.directions * blocks;
  auto* threads = context->device()->tensorflow_cpu_worker_threads();
  // A cost far above Shard's threshold makes it give each unit its own thread.
  tensorflow::Shard(units, threads->workers, units, int64_t{1} << 30, [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t block = unit % blocks;
      const int64_t first_row = block * rows_per_block;
      const int64_t rows = std::min(problem.batch, first_row + rows_per_block) - first_row;
      if (rows > 0) work(unit / blocks, block, first_row, rows);
    }
  });
}

// Blocks per direction: enough to give every thread one (both directions counted), each of at least
// kMinimumRowsPerBlock rows. With two threads and two directions, one direction per thread.
int64_t BlockCount(OpKernelContext* context, const Problem& problem) {
  const int64_t threads = context->device()->tensorflow_cpu_worker_threads()->num_threads;
  const int64_t wanted = (threads + problem.directions - 1) / problem.directions;
  return std::max<int64_t>(1, std::min(wanted, problem.batch / kMinimumRowsPerBlock));
}

class RecurrenceOp : public OpKernel {
 public:
  explicit RecurrenceOp(OpKernelConstruction* context) : OpKernel(context) {
    std::string activation;
    OP_REQUIRES_OK(context, context->GetAttr("cell", &cell_));
    OP_REQUIRES_OK(context, context->GetAttr("activation", &activation));
    activation_ = ParseActivation(activation);
    OP_REQUIRES_OK(context, context->GetAttr("reverse", &reverse_));
    OP_REQUIRES_OK(context, context->GetAttr("time_major", &time_major_));
    OP_REQUIRES_OK(context, context->GetAttr("project_inputs", &project_inputs_));
  }

 protected:
  const char* inputs_name() const { return project_inputs_ ? "inputs" : "projected"; }

  // Checks what both ops take (batch and time from `frames`, any tensor in the frames' layout) and fills `problem`.
  absl::Status Describe(const Tensor& frames, const char* frames_name, const Tensor& initial_state,
                        const Tensor& recurrent_kernel, const Tensor& recurrent_bias, const Tensor& mask,
                        Problem* problem) const {
    Problem& p = *problem;
    p.cell = cell_;
    p.activation = activation_;
    p.reverse = reverse_;
    p.time_major = time_major_;
    p.project_inputs = project_inputs_;
    p.features = 0;
    CellSizes(cell_, &p.gates, &p.states, &p.workspace);
    if (frames.dims() != 3) {
      return InvalidArgument(frames_name, " must be rank 3, (", time_major_ ? "time, batch" : "batch, time",
                             ", width), got shape ", frames.shape().DebugString());
    }
    p.batch = frames.dim_size(time_major_ ? 1 : 0);
    p.time = frames.dim_size(time_major_ ? 0 : 1);
    if (recurrent_kernel.dims() != 3 || recurrent_kernel.dim_size(2) != p.gates * recurrent_kernel.dim_size(1)) {
      return InvalidArgument("recurrent_kernel must be (directions, units, ", p.gates, " * units) for cell '", cell_,
                             "', got ", recurrent_kernel.shape().DebugString());
    }
    p.directions = recurrent_kernel.dim_size(0);
    p.units = recurrent_kernel.dim_size(1);
    if (p.directions != 1 && p.directions != 2) {
      return InvalidArgument("recurrent_kernel's first axis counts directions, 1 or 2, got ",
                             recurrent_kernel.shape().DebugString());
    }
    const TensorShape state_shape({p.directions, p.batch, p.states * p.units});
    if (initial_state.shape() != state_shape) {
      return InvalidArgument("initial_state must be (directions, batch, ", p.states, " * units) = ",
                             state_shape.DebugString(), " for cell '", cell_, "', got ",
                             initial_state.shape().DebugString());
    }
    const TensorShape bias_shape({p.directions, cell_ == "gru" ? p.gates * p.units : 0});
    if (recurrent_bias.shape() != bias_shape) {
      return InvalidArgument("recurrent_bias must be ", bias_shape.DebugString(), " for cell '", cell_,
                             "' (only the GRU has one), got ", recurrent_bias.shape().DebugString());
    }
    p.mask = nullptr;
    if (mask.dims() != 1 || mask.dim_size(0) != 0) {
      const TensorShape mask_shape({frames.dim_size(0), frames.dim_size(1)});
      if (mask.shape() != mask_shape) {
        return InvalidArgument("mask must be ", mask_shape.DebugString(), ", the first two axes of ", frames_name,
                               ", or (0,) for none, got ", mask.shape().DebugString());
      }
      p.mask = mask.flat<bool>().data();
    }
    return absl::OkStatus();
  }

  // With project_inputs: x (the frames' layout, `features` wide) and W (features, D * G * U) agree, and b, when
  // given, is (D * G * U); without, W and b are empty. Sets problem->features.
  absl::Status DescribeInputProjection(const Tensor& inputs, const Tensor& input_kernel, const Tensor* input_bias,
                                       Problem* problem) const {
    Problem& p = *problem;
    const int64_t width = p.directions * p.gates * p.units;
    if (!p.project_inputs) {
      if (input_kernel.NumElements() != 0 || (input_bias != nullptr && input_bias->NumElements() != 0)) {
        return InvalidArgument("input_kernel and input_bias must be empty without project_inputs, got ",
                               input_kernel.shape().DebugString());
      }
      return absl::OkStatus();
    }
    if (inputs.dims() != 3 || inputs.dim_size(time_major_ ? 1 : 0) != p.batch ||
        inputs.dim_size(time_major_ ? 0 : 1) != p.time) {
      return InvalidArgument("inputs must be rank 3 with the batch and time of the states, got ",
                             inputs.shape().DebugString());
    }
    p.features = inputs.dim_size(2);
    if (input_kernel.shape() != TensorShape({p.features, width})) {
      return InvalidArgument("input_kernel must be (features, directions * ", p.gates, " * units) = [", p.features,
                             ",", width, "] for cell '", cell_, "', got ", input_kernel.shape().DebugString());
    }
    if (input_bias != nullptr && input_bias->shape() != TensorShape({width})) {
      return InvalidArgument("input_bias must be [", width, "], got ", input_bias->shape().DebugString());
    }
    return absl::OkStatus();
  }

 private:
  std::string cell_;
  Activation activation_;
  bool reverse_, time_major_, project_inputs_;
};

// The buffers of one forward call. input_kernel and input_bias are read with project_inputs only.
struct ForwardData {
  const float *inputs, *initial_state, *recurrent_kernel, *recurrent_bias, *input_kernel, *input_bias;
  float* states[2];  // per direction
  float *final_state, *workspace;
};

template <typename Cell>
void Forward(OpKernelContext* context, const Problem& problem, const ForwardData& data) {
  const int64_t n = problem.units, gu = Cell::kGates * n, su = Cell::kStates * n, wu = Cell::kWorkspace * n;
  const Frames inputs = problem.inputs(), outputs = problem.outputs();
  ForEachBlock(context, problem, BlockCount(context, problem),
               [&](int64_t direction, int64_t, int64_t first_row, int64_t rows) {
    const PackedWeights kernel(data.recurrent_kernel + direction * n * gu, n, gu, gu, false);
    const CellConstants constants{n, problem.activation, data.recurrent_bias + direction * gu};
    const float* initial = data.initial_state + (direction * problem.batch + first_row) * su;
    Matrix a(rows, gu);
    // With project_inputs, this block's p_t = x_t W + b, made each step.
    std::optional<PackedWeights> input_kernel;
    Matrix projected;
    if (problem.project_inputs) {
      input_kernel.emplace(data.input_kernel + direction * gu, problem.features, gu, problem.directions * gu, false);
      projected.resize(rows, gu);
    }
    // The previous step's states: h in `states` (or initial_state), c in the workspace.
    const float* h_prev = initial;
    int64_t h_stride = su;
    const float* c_prev = initial + n;
    int64_t c_stride = su;
    for (int64_t index = 0; index < problem.time; ++index) {
      const int64_t t = problem.time_of(direction, index);
      const float* frame = data.inputs + inputs.offset(t, first_row) + problem.input_column(direction);
      const float* p = frame;
      int64_t p_stride = inputs.stride();
      if (problem.project_inputs) {
        projected.rowwise() = Eigen::Map<const Vector>(data.input_bias + direction * gu, gu);
        input_kernel->Multiply(frame, inputs.stride(), rows, projected.data(), gu, true);
        p = projected.data();
        p_stride = gu;
      }
      float* h = data.states[direction] + outputs.offset(t, first_row);
      float* work = data.workspace + problem.work_offset(direction, t, first_row);
      kernel.Multiply(h_prev, h_stride, rows, a.data(), gu, false);
      for (int64_t row = 0; row < rows; ++row) {
        const float* row_h_prev = h_prev + row * h_stride;
        float* row_h = h + row * outputs.stride();
        Cell::Forward(constants, p + row * p_stride, a.row(row).data(), row_h_prev, c_prev + row * c_stride, row_h,
                      work + row * wu);
        // A padding frame carries the states over.
        if (!problem.real(t, first_row + row)) {
          std::memcpy(row_h, row_h_prev, n * sizeof(float));
          if constexpr (Cell::kStates == 2) {
            std::memcpy(work + row * wu + LstmCell::kCellColumn * n, c_prev + row * c_stride, n * sizeof(float));
          }
        }
      }
      h_prev = h;
      h_stride = outputs.stride();
      if constexpr (Cell::kStates == 2) {
        c_prev = work + LstmCell::kCellColumn * n;
        c_stride = wu;
      }
    }
    float* final_state = data.final_state + (direction * problem.batch + first_row) * su;
    for (int64_t row = 0; row < rows; ++row) {
      std::memcpy(final_state + row * su, h_prev + row * h_stride, n * sizeof(float));
      if constexpr (Cell::kStates == 2) {
        std::memcpy(final_state + row * su + n, c_prev + row * c_stride, n * sizeof(float));
      }
    }
  });
}

class ZooRecurrence : public RecurrenceOp {
 public:
  using RecurrenceOp::RecurrenceOp;

  void Compute(OpKernelContext* context) override {
    const Tensor& inputs = context->input(0);
    const Tensor& initial_state = context->input(1);
    const Tensor& recurrent_kernel = context->input(2);
    const Tensor& recurrent_bias = context->input(3);
    const Tensor& mask = context->input(4);
    const Tensor& input_kernel = context->input(5);
    const Tensor& input_bias = context->input(6);
    Problem problem;
    OP_REQUIRES_OK(context, Describe(inputs, inputs_name(), initial_state, recurrent_kernel, recurrent_bias,
                                     mask, &problem));
    OP_REQUIRES_OK(context, DescribeInputProjection(inputs, input_kernel, &input_bias, &problem));
    const int64_t width = problem.directions * problem.gates * problem.units;
    OP_REQUIRES(context, problem.project_inputs || inputs.dim_size(2) == width,
                InvalidArgument("projected's last axis must be directions * ", problem.gates, " * units = ", width,
                                " for cell '", problem.cell, "', got ", inputs.shape().DebugString()));
    tensorflow::OpOutputList states;
    OP_REQUIRES_OK(context, context->output_list("states", &states));
    OP_REQUIRES(context, states.size() == problem.directions,
                InvalidArgument("directions must be recurrent_kernel's first axis, ", problem.directions, ", got ",
                                states.size()));
    Tensor *final_state, *workspace;
    ForwardData data{inputs.flat<float>().data(),         initial_state.flat<float>().data(),
                     recurrent_kernel.flat<float>().data(), recurrent_bias.flat<float>().data(),
                     input_kernel.flat<float>().data(),     input_bias.flat<float>().data()};
    for (int direction = 0; direction < problem.directions; ++direction) {
      Tensor* direction_states;
      OP_REQUIRES_OK(context, states.allocate(direction, problem.frames_shape(problem.units), &direction_states));
      data.states[direction] = direction_states->flat<float>().data();
    }
    OP_REQUIRES_OK(context, context->allocate_output("final_state", initial_state.shape(), &final_state));
    OP_REQUIRES_OK(context, context->allocate_output("workspace", problem.workspace_shape(), &workspace));
    data.final_state = final_state->flat<float>().data();
    data.workspace = workspace->flat<float>().data();
    if (problem.batch == 0) return;
    if (problem.cell == "lstm") {
      Forward<LstmCell>(context, problem, data);
    } else if (problem.cell == "gru") {
      Forward<GruCell>(context, problem, data);
    } else {
      Forward<BasicCell>(context, problem, data);
    }
  }
};

// The buffers of one backward call. inputs, input_kernel and the input gradients beyond inputs_gradient are
// used with project_inputs only; inputs_gradient is dL/dx then, dL/dprojected otherwise.
struct BackwardData {
  const float *initial_state, *recurrent_kernel, *recurrent_bias;
  const float *states[2], *states_gradient[2];  // per direction
  const float *workspace, *final_state_gradient, *inputs, *input_kernel;
  float *inputs_gradient, *initial_state_gradient, *recurrent_kernel_gradient, *recurrent_bias_gradient,
      *input_kernel_gradient, *input_bias_gradient;
};

// Sums the blocks' parts of one direction's weight gradient, in block order, into `total` (rows x columns, row
// stride ld). A block without rows (a batch smaller than the blocks) left its part empty.
template <typename Part>
void AddBlocks(const std::vector<Part>& parts, int64_t first, int64_t blocks, float* total, int64_t rows,
               int64_t columns, int64_t ld) {
  Rows sum(total, rows, columns, Eigen::OuterStride<>(ld));
  sum.setZero();
  for (int64_t block = 0; block < blocks; ++block) {
    const Part& part = parts[first + block];
    if (part.size() > 0) sum += Eigen::Map<const Matrix>(part.data(), rows, columns);
  }
}

template <typename Cell>
void Backward(OpKernelContext* context, const Problem& problem, const BackwardData& data) {
  const int64_t n = problem.units, gu = Cell::kGates * n, su = Cell::kStates * n, wu = Cell::kWorkspace * n;
  const int64_t features = problem.features;
  const bool project = problem.project_inputs;
  const Frames inputs = problem.inputs(), outputs = problem.outputs();
  const int64_t blocks = BlockCount(context, problem);
  // Each (direction, block) sums its own weight gradients; they are added up after, in block order.
  std::vector<Matrix> kernel_gradients(problem.directions * blocks), input_kernel_gradients(kernel_gradients.size());
  std::vector<Vector> bias_gradients(kernel_gradients.size()), input_bias_gradients(kernel_gradients.size());
  // Both directions' dL/dx meet on the same frames: the second direction's is summed in after the loops. Left
  // uninitialised (`new float[]`): its loop writes every frame.
  const int64_t second_size = project && problem.directions == 2 ? problem.batch * problem.time * features : 0;
  const std::unique_ptr<float[]> second_inputs_gradient(new float[second_size]);
  ForEachBlock(context, problem, blocks, [&](int64_t direction, int64_t block, int64_t first_row, int64_t rows) {
    // U^T, for carry = dq U^T.
    const PackedWeights kernel_transposed(data.recurrent_kernel + direction * n * gu, gu, n, gu, true);
    const CellConstants constants{n, problem.activation, data.recurrent_bias + direction * gu};
    const int64_t state_offset = (direction * problem.batch + first_row) * su;
    const float* initial = data.initial_state + state_offset;
    // The carries end as the initial states' gradients: they live in that output.
    float* carry = data.initial_state_gradient + state_offset;
    std::memcpy(carry, data.final_state_gradient + state_offset, rows * su * sizeof(float));
    Rows carry_h(carry, rows, n, Eigen::OuterStride<>(su));
    // dU = sum_t h_{t-1}^T dq_t, one product per chunk of steps, stacked in step order: a product per step
    // would read and write all of dU every step, one after the loop would keep every step's dq out of cache.
    // dW = sum_t x_t^T dp_t likewise.
    const int64_t chunk = std::max<int64_t>(1, kGradientDepth / rows);
    Matrix previous_states(chunk * rows, n), dq(chunk * rows, gu), upstream(rows, n);
    Matrix& kernel_gradient = kernel_gradients[direction * blocks + block];
    Vector& bias_gradient = bias_gradients[direction * blocks + block];
    kernel_gradient.setZero(n, gu);
    if (Cell::kSeparateDq) bias_gradient.setZero(gu);
    // With project_inputs: W^T for dx = dp W^T, the chunk's frames, its dp where it is not dq (the GRU's).
    std::optional<PackedWeights> input_kernel_transposed;
    Matrix frames, separate_dp;
    Matrix& input_kernel_gradient = input_kernel_gradients[direction * blocks + block];
    Vector& input_bias_gradient = input_bias_gradients[direction * blocks + block];
    float* inputs_gradient = direction == 0 ? data.inputs_gradient : second_inputs_gradient.get();
    if (project) {
      input_kernel_transposed.emplace(data.input_kernel + direction * gu, gu, features, problem.directions * gu,
                                      true);
      frames.resize(chunk * rows, features);
      if (Cell::kSeparateDq) separate_dp.resize(chunk * rows, gu);
      input_kernel_gradient.setZero(features, gu);
      input_bias_gradient.setZero(gu);
    }
    const Matrix& chunk_dp = Cell::kSeparateDq ? separate_dp : dq;
    int64_t stacked = 0;  // steps in the chunk so far
    const auto add_chunk = [&] {
      const int64_t depth = stacked * rows;
      kernel_gradient.noalias() += previous_states.topRows(depth).transpose() * dq.topRows(depth);
      if (Cell::kSeparateDq) bias_gradient += dq.topRows(depth).colwise().sum();
      if (project) {
        input_kernel_gradient.noalias() += frames.topRows(depth).transpose() * chunk_dp.topRows(depth);
        input_bias_gradient += chunk_dp.topRows(depth).colwise().sum();
      }
      stacked = 0;
    };
    for (int64_t index = problem.time - 1; index >= 0; --index) {
      const int64_t t = problem.time_of(direction, index);
      const int64_t previous_t = index > 0 ? problem.time_of(direction, index - 1) : -1;
      const float* h = data.states[direction] + outputs.offset(t, first_row);
      const float* h_prev = index > 0 ? data.states[direction] + outputs.offset(previous_t, first_row) : initial;
      const int64_t h_stride = index > 0 ? outputs.stride() : su;
      const float* work = data.workspace + problem.work_offset(direction, t, first_row);
      const float* c_prev = index > 0 ? data.workspace + problem.work_offset(direction, previous_t, first_row) +
                                            LstmCell::kCellColumn * n
                                      : initial + n;
      const int64_t c_stride = index > 0 ? wu : su;
      const int64_t frame = inputs.offset(t, first_row);
      float* step_dq = dq.data() + stacked * rows * gu;
      // dL/dp_t: into the chunk with project_inputs, else straight into the op's output.
      float* dp = data.inputs_gradient + frame + problem.input_column(direction);
      int64_t dp_stride = inputs.stride();
      if (project) {
        dp = Cell::kSeparateDq ? separate_dp.data() + stacked * rows * gu : step_dq;
        dp_stride = gu;
        frames.middleRows(stacked * rows, rows) =
            ConstRows(data.inputs + frame, rows, features, Eigen::OuterStride<>(inputs.stride()));
      }
      previous_states.middleRows(stacked * rows, rows) = ConstRows(h_prev, rows, n, Eigen::OuterStride<>(h_stride));
      upstream = carry_h + ConstRows(data.states_gradient[direction] + outputs.offset(t, first_row), rows, n,
                                     Eigen::OuterStride<>(outputs.stride()));
      bool any_real = false;
      for (int64_t row = 0; row < rows; ++row) {
        float* row_dp = dp + row * dp_stride;
        float* row_dq = step_dq + row * gu;
        float* row_carry = carry + row * su;
        if (problem.real(t, first_row + row)) {
          any_real = true;
          // dq = dp but for the GRU: then the cell writes both.
          Cell::Backward(constants, upstream.row(row).data(), h + row * outputs.stride(), h_prev + row * h_stride,
                         c_prev + row * c_stride, work + row * wu, Cell::kSeparateDq ? row_dp : row_dq, row_dq,
                         row_carry, row_carry + n);
          if (row_dp != row_dq && !Cell::kSeparateDq) std::memcpy(row_dp, row_dq, gu * sizeof(float));
        } else {
          // A padding frame passes dL/dh and dL/dc on unchanged and has no pre-activation.
          std::memset(row_dp, 0, gu * sizeof(float));
          std::memset(row_dq, 0, gu * sizeof(float));
          std::memcpy(row_carry, upstream.row(row).data(), n * sizeof(float));
        }
      }
      if (project) {
        float* dx = inputs_gradient + frame;
        if (any_real) {
          input_kernel_transposed->Multiply(dp, gu, rows, dx, inputs.stride(), false);
        } else {
          Rows(dx, rows, features, Eigen::OuterStride<>(inputs.stride())).setZero();
        }
      }
      if (!any_real) continue;
      kernel_transposed.Multiply(step_dq, gu, rows, carry, su, true);
      if (++stacked == chunk) add_chunk();
    }
    if (stacked > 0) add_chunk();
  });
  const int64_t width = problem.directions * gu;
  for (int64_t direction = 0; direction < problem.directions; ++direction) {
    const int64_t first = direction * blocks;
    AddBlocks(kernel_gradients, first, blocks, data.recurrent_kernel_gradient + direction * n * gu, n, gu, gu);
    if (Cell::kSeparateDq) {
      AddBlocks(bias_gradients, first, blocks, data.recurrent_bias_gradient + direction * gu, 1, gu, gu);
    }
    if (project) {
      AddBlocks(input_kernel_gradients, first, blocks, data.input_kernel_gradient + direction * gu, features, gu,
                width);
      AddBlocks(input_bias_gradients, first, blocks, data.input_bias_gradient + direction * gu, 1, gu, width);
    }
  }
  if (second_size > 0) {
    Array(data.inputs_gradient, second_size) += ConstArray(second_inputs_gradient.get(), second_size);
  }
}

class ZooRecurrenceGrad : public RecurrenceOp {
 public:
  using RecurrenceOp::RecurrenceOp;

  void Compute(OpKernelContext* context) override {
    // By name: the lists of per-direction states and gradients move every later input's position.
    const Tensor *initial_state_input, *recurrent_kernel_input, *recurrent_bias_input, *mask_input, *workspace_input,
        *final_state_gradient_input, *inputs_input, *input_kernel_input;
    tensorflow::OpInputList states, states_gradient;
    OP_REQUIRES_OK(context, context->input("initial_state", &initial_state_input));
    OP_REQUIRES_OK(context, context->input("recurrent_kernel", &recurrent_kernel_input));
    OP_REQUIRES_OK(context, context->input("recurrent_bias", &recurrent_bias_input));
    OP_REQUIRES_OK(context, context->input("mask", &mask_input));
    OP_REQUIRES_OK(context, context->input_list("states", &states));
    OP_REQUIRES_OK(context, context->input("workspace", &workspace_input));
    OP_REQUIRES_OK(context, context->input_list("states_gradient", &states_gradient));
    OP_REQUIRES_OK(context, context->input("final_state_gradient", &final_state_gradient_input));
    OP_REQUIRES_OK(context, context->input("inputs", &inputs_input));
    OP_REQUIRES_OK(context, context->input("input_kernel", &input_kernel_input));
    const Tensor &initial_state = *initial_state_input, &recurrent_kernel = *recurrent_kernel_input,
                 &recurrent_bias = *recurrent_bias_input, &mask = *mask_input, &workspace = *workspace_input,
                 &final_state_gradient = *final_state_gradient_input, &inputs = *inputs_input,
                 &input_kernel = *input_kernel_input;
    Problem problem;
    OP_REQUIRES_OK(context,
                   Describe(states[0], "states", initial_state, recurrent_kernel, recurrent_bias, mask, &problem));
    OP_REQUIRES(context, states.size() == problem.directions,
                InvalidArgument("one states tensor per direction: ", problem.directions, ", got ", states.size()));
    OP_REQUIRES_OK(context, DescribeInputProjection(inputs, input_kernel, nullptr, &problem));
    const TensorShape states_shape = problem.frames_shape(problem.units);
    for (int direction = 0; direction < problem.directions; ++direction) {
      OP_REQUIRES(context, states[direction].shape() == states_shape &&
                               states_gradient[direction].shape() == states_shape,
                  InvalidArgument("states and states_gradient must be ", states_shape.DebugString(), ", got ",
                                  states[direction].shape().DebugString(), " and ",
                                  states_gradient[direction].shape().DebugString()));
    }
    OP_REQUIRES(context, workspace.shape() == problem.workspace_shape(),
                InvalidArgument("workspace must be ", problem.workspace_shape().DebugString(),
                                " as ZooRecurrence made it, got ", workspace.shape().DebugString()));
    OP_REQUIRES(context, final_state_gradient.shape() == initial_state.shape(),
                InvalidArgument("final_state_gradient must be ", initial_state.shape().DebugString(), ", got ",
                                final_state_gradient.shape().DebugString()));
    const int64_t width = problem.directions * problem.gates * problem.units;
    Tensor *inputs_gradient, *initial_state_gradient, *kernel_gradient, *bias_gradient, *input_kernel_gradient,
        *input_bias_gradient;
    OP_REQUIRES_OK(context, context->allocate_output(0, problem.frames_shape(problem.inputs().width),
                                                     &inputs_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(1, initial_state.shape(), &initial_state_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(2, recurrent_kernel.shape(), &kernel_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(3, recurrent_bias.shape(), &bias_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(4, input_kernel.shape(), &input_kernel_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(
                                5, TensorShape({problem.project_inputs ? width : 0}), &input_bias_gradient));
    BackwardData data{initial_state.flat<float>().data(),
                      recurrent_kernel.flat<float>().data(),
                      recurrent_bias.flat<float>().data(),
                      {states[0].flat<float>().data(), nullptr},
                      {states_gradient[0].flat<float>().data(), nullptr},
                      workspace.flat<float>().data(),
                      final_state_gradient.flat<float>().data(),
                      inputs.flat<float>().data(),
                      input_kernel.flat<float>().data(),
                      inputs_gradient->flat<float>().data(),
                      initial_state_gradient->flat<float>().data(),
                      kernel_gradient->flat<float>().data(),
                      bias_gradient->flat<float>().data(),
                      input_kernel_gradient->flat<float>().data(),
                      input_bias_gradient->flat<float>().data()};
    if (problem.directions == 2) {
      data.states[1] = states[1].flat<float>().data();
      data.states_gradient[1] = states_gradient[1].flat<float>().data();
    }
    if (problem.batch == 0) {
      kernel_gradient->flat<float>().setZero();
      bias_gradient->flat<float>().setZero();
      input_kernel_gradient->flat<float>().setZero();
      input_bias_gradient->flat<float>().setZero();
      return;
    }
    if (problem.cell == "lstm") {
      Backward<LstmCell>(context, problem, data);
    } else if (problem.cell == "gru") {
      Backward<GruCell>(context, problem, data);
    } else {
      Backward<BasicCell>(context, problem, data);
    }
  }
};

using tensorflow::shape_inference::DimensionHandle;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

// (batch, time, width) or (time, batch, width): `frames`' first two axes and `width`.
absl::Status FramesShape(InferenceContext* context, ShapeHandle frames, DimensionHandle width, ShapeHandle* shape) {
  TF_RETURN_IF_ERROR(context->WithRank(frames, 3, &frames));
  return context->ReplaceDim(frames, 2, width, shape);
}

// The width of every direction's gates side by side: directions times G * units.
absl::Status Width(InferenceContext* context, ShapeHandle recurrent_kernel, DimensionHandle* width) {
  TF_RETURN_IF_ERROR(context->WithRank(recurrent_kernel, 3, &recurrent_kernel));
  return context->Multiply(context->Dim(recurrent_kernel, 0), context->Dim(recurrent_kernel, 2), width);
}

absl::Status RecurrenceShape(InferenceContext* context) {
  std::string cell;
  bool time_major;
  TF_RETURN_IF_ERROR(context->GetAttr("cell", &cell));
  TF_RETURN_IF_ERROR(context->GetAttr("time_major", &time_major));
  int directions;
  TF_RETURN_IF_ERROR(context->GetAttr("directions", &directions));
  // projected, or x with project_inputs: either way the states' batch and time.
  ShapeHandle projected, states;
  TF_RETURN_IF_ERROR(context->WithRank(context->input(0), 3, &projected));
  TF_RETURN_IF_ERROR(FramesShape(context, projected, context->Dim(context->input(2), 1), &states));
  for (int direction = 0; direction < directions; ++direction) context->set_output(direction, states);
  context->set_output(directions, context->input(1));
  int64_t gates, state_count, workspace;
  CellSizes(cell, &gates, &state_count, &workspace);
  DimensionHandle work_width;
  TF_RETURN_IF_ERROR(context->Multiply(context->Dim(context->input(2), 1), workspace, &work_width));
  context->set_output(directions + 1, context->MakeShape({context->Dim(context->input(2), 0),
                                             context->Dim(projected, time_major ? 0 : 1),
                                             context->Dim(projected, time_major ? 1 : 0), work_width}));
  return absl::OkStatus();
}

absl::Status RecurrenceGradShape(InferenceContext* context) {
  bool project_inputs;
  TF_RETURN_IF_ERROR(context->GetAttr("project_inputs", &project_inputs));
  std::vector<ShapeHandle> states, initial_state, recurrent_kernel, recurrent_bias, inputs, input_kernel;
  TF_RETURN_IF_ERROR(context->input("states", &states));
  TF_RETURN_IF_ERROR(context->input("initial_state", &initial_state));
  TF_RETURN_IF_ERROR(context->input("recurrent_kernel", &recurrent_kernel));
  TF_RETURN_IF_ERROR(context->input("recurrent_bias", &recurrent_bias));
  TF_RETURN_IF_ERROR(context->input("inputs", &inputs));
  TF_RETURN_IF_ERROR(context->input("input_kernel", &input_kernel));
  DimensionHandle width;
  TF_RETURN_IF_ERROR(Width(context, recurrent_kernel[0], &width));
  if (project_inputs) {
    context->set_output(0, inputs[0]);
  } else {
    ShapeHandle projected_gradient;
    TF_RETURN_IF_ERROR(FramesShape(context, states[0], width, &projected_gradient));
    context->set_output(0, projected_gradient);
  }
  context->set_output(1, initial_state[0]);
  context->set_output(2, recurrent_kernel[0]);
  context->set_output(3, recurrent_bias[0]);
  context->set_output(4, input_kernel[0]);
  context->set_output(5, context->Vector(project_inputs ? width : context->MakeDim(0)));
  return absl::OkStatus();
}

}  // namespace
}  // namespace zoo

REGISTER_OP("ZooRecurrence")
    .Input("inputs: float")
    .Input("initial_state: float")
    .Input("recurrent_kernel: float")
    .Input("recurrent_bias: float")
    .Input("mask: bool")
    .Input("input_kernel: float")
    .Input("input_bias: float")
    .Attr("cell: {'basic', 'lstm', 'gru'}")
    .Attr("activation: {'tanh', 'sigmoid', 'relu', 'linear'} = 'tanh'")
    .Attr("reverse: bool = false")
    .Attr("time_major: bool = false")
    .Attr("project_inputs: bool = false")
    .Attr("directions: int >= 1 = 1")
    .Output("states: directions * float")
    .Output("final_state: float")
    .Output("workspace: float")
    .SetShapeFn(zoo::RecurrenceShape);

REGISTER_OP("ZooRecurrenceGrad")
    .Input("initial_state: float")
    .Input("recurrent_kernel: float")
    .Input("recurrent_bias: float")
    .Input("mask: bool")
    .Input("states: directions * float")
    .Input("workspace: float")
    .Input("states_gradient: directions * float")
    .Input("final_state_gradient: float")
    .Input("inputs: float")
    .Input("input_kernel: float")
    .Attr("cell: {'basic', 'lstm', 'gru'}")
    .Attr("activation: {'tanh', 'sigmoid', 'relu', 'linear'} = 'tanh'")
    .Attr("reverse: bool = false")
    .Attr("time_major: bool = false")
    .Attr("project_inputs: bool = false")
    .Attr("directions: int >= 1 = 1")
    .Output("inputs_gradient: float")
    .Output("initial_state_gradient: float")
    .Output("recurrent_kernel_gradient: float")
    .Output("recurrent_bias_gradient: float")
    .Output("input_kernel_gradient: float")
    .Output("input_bias_gradient: float")
    .SetShapeFn(zoo::RecurrenceGradShape);

REGISTER_KERNEL_BUILDER(Name("ZooRecurrence").Device(tensorflow::DEVICE_CPU), zoo::ZooRecurrence);
REGISTER_KERNEL_BUILDER(Name("ZooRecurrenceGrad").Device(tensorflow::DEVICE_CPU), zoo::ZooRecurrenceGrad);
