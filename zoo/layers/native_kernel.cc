// The BasicRNN time loop as two TensorFlow CPU ops: the forward pass and its
// gradient, for float32. zoo/layers/native_kernel.py builds this file on first
// use and falls back to zoo/layers/recurrence.py (TensorFlow ops, the
// reference) when it cannot.
//
//   forward, per step:  h_t = phi(x_t W_xh + b + h_{t-1} W_hh)
//   backward, per step: g_t = dL/dh_t + carry;  dz_t = g_t * phi'(h_t)
//                       carry = dz_t W_hh^T
//                       dW_hh += h_{t-1}^T dz_t;  dW_xh += x_t^T dz_t;  db += dz_t
// A masked (padding) frame copies h_{t-1}: its dz is zero and g passes to carry.
//
// Why an op of our own, when recurrence.py already runs on TensorFlow ops:
// - A step is a few small products (batch 64, 128 units: about a million
//   multiply-adds each). TensorFlow's start-up message says its pip wheel
//   uses AVX2, AVX-512 and FMA in "performance-critical operations" only;
//   built here with -march=native, Eigen's products use them wherever the CPU
//   has them. And one op per pass replaces
//   the dozen or so TensorFlow ops that recurrence.py schedules per step.
// - Sequences in a batch never interact, so the batch is cut into blocks of
//   rows, one per intra-op thread, and each block runs the whole time loop on
//   its own: no synchronisation between steps. Only the weight gradients are
//   summed across blocks, once, in block order, so results do not depend on
//   thread timing.
// - Frames are read and written in the caller's layout (batch-major or
//   time-major) through strided views: nothing is transposed or copied.

#include <algorithm>
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

// A floor on a thread's share of the batch, so that its products stay thick.
// A guess, not tuned: the benchmark's batch of 64 on two threads gives blocks of 32.
constexpr int64_t kMinimumRowsPerBlock = 16;

enum class Activation { kTanh, kSigmoid, kRelu, kLinear };

Activation ParseActivation(const std::string& name) {
  if (name == "tanh") return Activation::kTanh;
  if (name == "sigmoid") return Activation::kSigmoid;
  if (name == "relu") return Activation::kRelu;
  return Activation::kLinear;
}

// Where frame t of a (batch, time, width) or (time, batch, width) tensor lives:
// `rows` consecutive sequences from `first_row`, `stride` floats apart.
struct Frames {
  int64_t batch, time, width;
  bool time_major;

  int64_t stride() const { return time_major ? width : time * width; }
  int64_t offset(int64_t t, int64_t first_row) const {
    return (time_major ? t * batch * width : t * width) + first_row * stride();
  }
  ConstRows read(const float* data, int64_t t, int64_t first_row, int64_t rows) const {
    return ConstRows(data + offset(t, first_row), rows, width, Eigen::OuterStride<>(stride()));
  }
  Rows write(float* data, int64_t t, int64_t first_row, int64_t rows) const {
    return Rows(data + offset(t, first_row), rows, width, Eigen::OuterStride<>(stride()));
  }
};

// The attributes and shapes both ops share, read and checked once per call.
struct Problem {
  Activation activation;
  bool reverse, time_major;
  int64_t batch, time, features, units;
  const bool* mask;  // nullptr when every frame is real

  int64_t time_of(int64_t index) const { return reverse ? time - 1 - index : index; }
  bool real(int64_t t, int64_t row) const {
    return mask == nullptr || mask[time_major ? t * batch + row : row * time + t];
  }
  Frames inputs() const { return {batch, time, features, time_major}; }
  Frames states() const { return {batch, time, units, time_major}; }
};

class BasicRnnOp : public OpKernel {
 public:
  explicit BasicRnnOp(OpKernelConstruction* context) : OpKernel(context) {
    std::string activation;
    OP_REQUIRES_OK(context, context->GetAttr("activation", &activation));
    activation_ = ParseActivation(activation);
    OP_REQUIRES_OK(context, context->GetAttr("reverse", &reverse_));
    OP_REQUIRES_OK(context, context->GetAttr("time_major", &time_major_));
  }

 protected:
  // Checks the inputs both ops take and fills `problem`.
  absl::Status Describe(const Tensor& sequences, const Tensor& initial_state, const Tensor& recurrent_kernel,
                        const Tensor& mask, Problem* problem) const {
    if (sequences.dims() != 3) {
      return InvalidArgument("sequences must be rank 3, got shape ", sequences.shape().DebugString());
    }
    if (recurrent_kernel.dims() != 2 || recurrent_kernel.dim_size(0) != recurrent_kernel.dim_size(1)) {
      return InvalidArgument("recurrent_kernel must be (units, units), got ", recurrent_kernel.shape().DebugString());
    }
    *problem = {activation_,
                reverse_,
                time_major_,
                sequences.dim_size(time_major_ ? 1 : 0),
                sequences.dim_size(time_major_ ? 0 : 1),
                sequences.dim_size(2),
                recurrent_kernel.dim_size(0),
                nullptr};
    if (initial_state.shape() != TensorShape({problem->batch, problem->units})) {
      return InvalidArgument("initial_state must be (batch, units) = (", problem->batch, ", ", problem->units,
                             "), got ", initial_state.shape().DebugString());
    }
    if (mask.NumElements() > 0) {
      const TensorShape frames({sequences.dim_size(0), sequences.dim_size(1)});
      if (mask.shape() != frames) {
        return InvalidArgument("mask must match the sequences' first two axes ", frames.DebugString(), ", got ",
                               mask.shape().DebugString());
      }
      problem->mask = mask.flat<bool>().data();
    }
    return absl::OkStatus();
  }

  // Runs `work(first_row, rows, block)` for each block of rows, on the intra-op threads.
  template <typename Work>
  static void ForEachBlock(OpKernelContext* context, int64_t batch, int64_t blocks, Work work) {
    const int64_t rows_per_block = (batch + blocks - 1) / blocks;
    auto* threads = context->device()->tensorflow_cpu_worker_threads();
    // A cost far above Shard's threshold makes it give each block its own thread.
    tensorflow::Shard(blocks, threads->workers, blocks, int64_t{1} << 30, [&](int64_t begin, int64_t end) {
      for (int64_t block = begin; block < end; ++block) {
        const int64_t first_row = block * rows_per_block;
        const int64_t rows = std::min(batch, first_row + rows_per_block) - first_row;
        if (rows > 0) work(first_row, rows, block);
      }
    });
  }

  static int64_t BlockCount(OpKernelContext* context, int64_t batch) {
    const int64_t threads = context->device()->tensorflow_cpu_worker_threads()->num_threads;
    return std::max<int64_t>(1, std::min(threads, batch / kMinimumRowsPerBlock));
  }

 private:
  Activation activation_;
  bool reverse_, time_major_;
};

class ZooBasicRnn : public BasicRnnOp {
 public:
  using BasicRnnOp::BasicRnnOp;

  void Compute(OpKernelContext* context) override {
    const Tensor& sequences = context->input(0);
    const Tensor& initial_state = context->input(1);
    const Tensor& kernel = context->input(2);
    const Tensor& bias = context->input(3);
    const Tensor& recurrent_kernel = context->input(4);
    const Tensor& mask = context->input(5);
    Problem problem;
    OP_REQUIRES_OK(context, Describe(sequences, initial_state, recurrent_kernel, mask, &problem));
    const int64_t features = problem.features, units = problem.units;
    OP_REQUIRES(context, kernel.shape() == TensorShape({features, units}),
                InvalidArgument("kernel must be (features, units) = (", features, ", ", units, "), got ",
                                kernel.shape().DebugString()));
    OP_REQUIRES(context, bias.shape() == TensorShape({units}),
                InvalidArgument("bias must be (units,) = (", units, ",), got ", bias.shape().DebugString()));

    TensorShape states_shape = sequences.shape();
    states_shape.set_dim(2, units);
    Tensor* states = nullptr;
    Tensor* final_state = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, states_shape, &states));
    OP_REQUIRES_OK(context, context->allocate_output(1, initial_state.shape(), &final_state));

    const Eigen::Map<const Matrix> w_xh(kernel.flat<float>().data(), features, units);
    const Eigen::Map<const Matrix> w_hh(recurrent_kernel.flat<float>().data(), units, units);
    const Eigen::Map<const Vector> b(bias.flat<float>().data(), units);
    const Frames inputs = problem.inputs(), outputs = problem.states();
    const float* x_data = sequences.flat<float>().data();
    const float* initial_data = initial_state.flat<float>().data();
    float* states_data = states->flat<float>().data();
    float* final_data = final_state->flat<float>().data();

    ForEachBlock(context, problem.batch, BlockCount(context, problem.batch),
                 [&](int64_t first_row, int64_t rows, int64_t) {
      const float* previous_data = initial_data + first_row * units;
      int64_t previous_stride = units;
      for (int64_t index = 0; index < problem.time; ++index) {
        const int64_t t = problem.time_of(index);
        const ConstRows previous(previous_data, rows, units, Eigen::OuterStride<>(previous_stride));
        Rows state = outputs.write(states_data, t, first_row, rows);
        state.noalias() = inputs.read(x_data, t, first_row, rows) * w_xh;
        state.rowwise() += b;
        state.noalias() += previous * w_hh;
        switch (problem.activation) {
          case Activation::kTanh: state = state.array().tanh(); break;
          case Activation::kSigmoid: state = state.array().logistic(); break;
          case Activation::kRelu: state = state.array().max(0.0f); break;
          case Activation::kLinear: break;
        }
        for (int64_t row = 0; row < rows; ++row) {
          if (!problem.real(t, first_row + row)) state.row(row) = previous.row(row);
        }
        previous_data = state.data();
        previous_stride = outputs.stride();
      }
      Eigen::Map<Matrix>(final_data + first_row * units, rows, units) =
          ConstRows(previous_data, rows, units, Eigen::OuterStride<>(previous_stride));
    });
  }
};

class ZooBasicRnnGrad : public BasicRnnOp {
 public:
  using BasicRnnOp::BasicRnnOp;

  void Compute(OpKernelContext* context) override {
    const Tensor& sequences = context->input(0);
    const Tensor& initial_state = context->input(1);
    const Tensor& recurrent_kernel = context->input(2);
    const Tensor& states = context->input(3);
    const Tensor& mask = context->input(4);
    const Tensor& states_gradient = context->input(5);
    const Tensor& final_state_gradient = context->input(6);
    Problem problem;
    OP_REQUIRES_OK(context, Describe(sequences, initial_state, recurrent_kernel, mask, &problem));
    const int64_t features = problem.features, units = problem.units;
    TensorShape states_shape = sequences.shape();
    states_shape.set_dim(2, units);
    OP_REQUIRES(context, states.shape() == states_shape && states_gradient.shape() == states_shape,
                InvalidArgument("states and their gradient must be ", states_shape.DebugString(), ", got ",
                                states.shape().DebugString(), " and ", states_gradient.shape().DebugString()));
    OP_REQUIRES(context, final_state_gradient.shape() == initial_state.shape(),
                InvalidArgument("final_state_gradient must be ", initial_state.shape().DebugString(), ", got ",
                                final_state_gradient.shape().DebugString()));

    Tensor *pre_activation_gradient, *initial_state_gradient, *kernel_gradient, *bias_gradient, *recurrent_gradient;
    OP_REQUIRES_OK(context, context->allocate_output(0, states_shape, &pre_activation_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(1, initial_state.shape(), &initial_state_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({features, units}), &kernel_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(3, TensorShape({units}), &bias_gradient));
    OP_REQUIRES_OK(context, context->allocate_output(4, recurrent_kernel.shape(), &recurrent_gradient));

    // Transposed once here rather than inside every step's product.
    const Matrix w_hh_transposed =
        Eigen::Map<const Matrix>(recurrent_kernel.flat<float>().data(), units, units).transpose();
    const Frames inputs = problem.inputs(), frames = problem.states();
    const float* x_data = sequences.flat<float>().data();
    const float* initial_data = initial_state.flat<float>().data();
    const float* h_data = states.flat<float>().data();
    const float* output_gradient_data = states_gradient.flat<float>().data();
    const float* final_gradient_data = final_state_gradient.flat<float>().data();
    float* dz_data = pre_activation_gradient->flat<float>().data();
    float* carry_data = initial_state_gradient->flat<float>().data();

    // Each block sums its own weight gradients; they are added up after.
    const int64_t blocks = BlockCount(context, problem.batch);
    std::vector<Matrix> d_xh(blocks, Matrix::Zero(features, units));
    std::vector<Matrix> d_hh(blocks, Matrix::Zero(units, units));
    std::vector<Vector> d_b(blocks, Vector::Zero(units));

    ForEachBlock(context, problem.batch, blocks, [&](int64_t first_row, int64_t rows, int64_t block) {
      // The carry ends as dL/dh_0, the initial state's gradient: it lives in that output.
      Eigen::Map<Matrix> carry(carry_data + first_row * units, rows, units);
      carry = Eigen::Map<const Matrix>(final_gradient_data + first_row * units, rows, units);
      Matrix padding_upstream(problem.mask != nullptr ? rows : 0, units);
      for (int64_t index = problem.time - 1; index >= 0; --index) {
        const int64_t t = problem.time_of(index);
        const ConstRows h = frames.read(h_data, t, first_row, rows);
        Rows dz = frames.write(dz_data, t, first_row, rows);
        // g_t, kept apart from dz only under a mask, where padding rows pass it on.
        const auto upstream = carry + frames.read(output_gradient_data, t, first_row, rows);
        if (problem.mask != nullptr) {
          padding_upstream = upstream;
        }
        switch (problem.activation) {
          case Activation::kTanh: dz = upstream.array() * (1.0f - h.array().square()); break;
          case Activation::kSigmoid: dz = upstream.array() * h.array() * (1.0f - h.array()); break;
          case Activation::kRelu: dz = (h.array() > 0.0f).select(upstream.array(), 0.0f); break;
          case Activation::kLinear: dz = upstream; break;
        }
        for (int64_t row = 0; row < rows; ++row) {
          if (!problem.real(t, first_row + row)) dz.row(row).setZero();
        }
        carry.noalias() = dz * w_hh_transposed;
        for (int64_t row = 0; row < rows; ++row) {
          if (!problem.real(t, first_row + row)) carry.row(row) += padding_upstream.row(row);
        }
        // Per step, while dz is in cache: one pass over all frames after the
        // loop measured no faster, and would read dz back from memory.
        const ConstRows previous =
            index == 0 ? ConstRows(initial_data + first_row * units, rows, units, Eigen::OuterStride<>(units))
                       : frames.read(h_data, problem.time_of(index - 1), first_row, rows);
        d_hh[block].noalias() += previous.transpose() * dz;
        d_xh[block].noalias() += inputs.read(x_data, t, first_row, rows).transpose() * dz;
        d_b[block] += dz.colwise().sum();
      }
    });

    Eigen::Map<Matrix> kernel_total(kernel_gradient->flat<float>().data(), features, units);
    Eigen::Map<Matrix> recurrent_total(recurrent_gradient->flat<float>().data(), units, units);
    Eigen::Map<Vector> bias_total(bias_gradient->flat<float>().data(), units);
    kernel_total = d_xh[0];
    recurrent_total = d_hh[0];
    bias_total = d_b[0];
    for (int64_t block = 1; block < blocks; ++block) {
      kernel_total += d_xh[block];
      recurrent_total += d_hh[block];
      bias_total += d_b[block];
    }
  }
};

using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

// states: the sequences' shape with units as the last axis.
absl::Status StatesShape(InferenceContext* context, ShapeHandle* states) {
  ShapeHandle sequences;
  TF_RETURN_IF_ERROR(context->WithRank(context->input(0), 3, &sequences));
  return context->ReplaceDim(sequences, 2, context->Dim(context->input(/*recurrent_kernel=*/4), 1), states);
}

}  // namespace
}  // namespace zoo

REGISTER_OP("ZooBasicRnn")
    .Input("sequences: float")
    .Input("initial_state: float")
    .Input("kernel: float")
    .Input("bias: float")
    .Input("recurrent_kernel: float")
    .Input("mask: bool")
    .Attr("activation: {'tanh', 'sigmoid', 'relu', 'linear'}")
    .Attr("reverse: bool")
    .Attr("time_major: bool")
    .Output("states: float")
    .Output("final_state: float")
    .SetShapeFn([](zoo::InferenceContext* context) {
      zoo::ShapeHandle states;
      TF_RETURN_IF_ERROR(zoo::StatesShape(context, &states));
      context->set_output(0, states);
      context->set_output(1, context->input(1));
      return absl::OkStatus();
    });

REGISTER_OP("ZooBasicRnnGrad")
    .Input("sequences: float")
    .Input("initial_state: float")
    .Input("recurrent_kernel: float")
    .Input("states: float")
    .Input("mask: bool")
    .Input("states_gradient: float")
    .Input("final_state_gradient: float")
    .Attr("activation: {'tanh', 'sigmoid', 'relu', 'linear'}")
    .Attr("reverse: bool")
    .Attr("time_major: bool")
    .Output("pre_activation_gradient: float")
    .Output("initial_state_gradient: float")
    .Output("kernel_gradient: float")
    .Output("bias_gradient: float")
    .Output("recurrent_kernel_gradient: float")
    .SetShapeFn([](zoo::InferenceContext* context) {
      context->set_output(0, context->input(3));
      context->set_output(1, context->input(1));
      context->set_output(2, context->Matrix(context->Dim(context->input(0), 2), context->Dim(context->input(2), 1)));
      context->set_output(3, context->Vector(context->Dim(context->input(2), 1)));
      context->set_output(4, context->input(2));
      return absl::OkStatus();
    });

REGISTER_KERNEL_BUILDER(Name("ZooBasicRnn").Device(tensorflow::DEVICE_CPU), zoo::ZooBasicRnn);
REGISTER_KERNEL_BUILDER(Name("ZooBasicRnnGrad").Device(tensorflow::DEVICE_CPU), zoo::ZooBasicRnnGrad);
